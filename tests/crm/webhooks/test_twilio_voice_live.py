"""A click-to-call played out by the fake Twilio Voice server against the live server: the
rep's phone is answered, our TwiML dials the lead, and the signed callbacks of both legs come
back. The call's duration is the talk time from the lead's answer; the rep's leg's own duration
also counts the time the lead's phone rang."""

from datetime import UTC, datetime

import pytest
import time_machine

from crm.models import Call, Lead
from crm.services.calls import call_start
from fakes.twilio_voice_server import FakeTwilioVoiceServer
from tests.factories import CompanySettingsFactory, LeadFactory, RepUserFactory

ACCOUNT, TOKEN = "AC" + "5" * 32, "live-voice-token"
START = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 11:00 in Chicago: inside calling hours


@pytest.fixture
def fake_voice():
    with FakeTwilioVoiceServer(account_sid=ACCOUNT, auth_token=TOKEN, talk_seconds=47, lead_ring_seconds=14,
                               step_delay=0.02) as fake:
        yield fake


@pytest.fixture
def placed(transactional_db, settings, live_server, fake_voice):
    """Place a call to a lead whose reply waits for an answer; returns (call, fake) once it ended."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT, TOKEN
    settings.TWILIO_API_BASE_URL = fake_voice.base_url
    settings.PUBLIC_BASE_URL = live_server.url
    CompanySettingsFactory(sender_numbers="+15125550100")
    rep = RepUserFactory()
    lead = LeadFactory(assigned_rep=rep, phone="+15125550142", state="IL", time_zone="", status=Lead.Status.REPLIED)

    def place():
        with time_machine.travel(START, tick=True):
            Lead.objects.filter(pk=lead.pk).update(awaiting_reply_since=START)
            call = call_start(lead=lead, rep=rep)
            assert fake_voice.wait_done(call.provider_sid)
        call.refresh_from_db()
        return call

    return place, fake_voice


def test_the_call_lasts_from_the_leads_answer_not_from_the_reps(placed):
    place, fake = placed
    call = place()

    assert call.status == Call.Status.COMPLETED
    assert call.duration_seconds == 47  # the rep's leg reported 14 + 47 s
    legs = {status: answer for sid, status, answer in fake.callbacks if sid == call.provider_sid}
    assert legs == {"initiated": 200, "ringing": 200, "twiml": 200, "in-progress": 200,
                    "lead:in-progress": 200, "lead:completed": 200, "completed": 200}
    assert call.answered_at is not None and call.ended_at is not None
    # The lead answered a call: their reply no longer waits in the rep's queue.
    assert Lead.objects.get(pk=call.lead_id).awaiting_reply_since is None


def test_a_lead_who_does_not_answer_is_a_no_answer_call(placed):
    place, fake = placed
    fake.lead_answers = False
    call = place()

    assert (call.status, call.duration_seconds, call.answered_at) == (Call.Status.NO_ANSWER, 0, None)
    assert Lead.objects.get(pk=call.lead_id).awaiting_reply_since is not None
