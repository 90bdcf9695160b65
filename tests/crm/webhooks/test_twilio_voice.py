"""Twilio Voice webhooks: signed or refused with nothing stored, the bridging TwiML, the
recording notice, and status callbacks stored once and applied forward only."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings, strategies as st
from twilio.request_validator import RequestValidator

from crm.models import Call, WebhookEvent
from tests import factories as f

AUTH_TOKEN = "voice-webhook-token"
PUBLIC_BASE_URL = "https://crm.example.com"
SID = "CA" + "a" * 32


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(datetime(2026, 12, 2, 16, 0, tzinfo=UTC), tick=False):
        yield


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)  # Twilio sends no CSRF token


@pytest.fixture
def call(db, rep_user):
    lead = f.LeadFactory(assigned_rep=rep_user, phone="+15125550177")
    return f.CallFactory(lead=lead, rep=rep_user, provider_sid=SID, status=Call.Status.INITIATED,
                         duration_seconds=0, from_number="+15125550100")


def _post(client, path, params, *, signature=None):
    signature = signature if signature is not None else RequestValidator(AUTH_TOKEN).compute_signature(
        PUBLIC_BASE_URL + path, params)
    return client.post(path, params, headers={"X-Twilio-Signature": signature})


def _status(client, call, status, **extra):
    path = reverse("twilio_voice_status", args=[call.pk])
    return _post(client, path, {"CallSid": call.provider_sid, "CallStatus": status, **extra})


# --- signatures -----------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["forged", ""])
def test_forged_status_callback_is_refused_and_nothing_is_stored(client, call, signature):
    path = reverse("twilio_voice_status", args=[call.pk])

    response = _post(client, path, {"CallSid": SID, "CallStatus": "completed", "CallDuration": "99"},
                     signature=signature or "x")

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()
    call.refresh_from_db()
    assert call.status == Call.Status.INITIATED


def test_status_callback_signed_for_another_call_is_refused(client, call, rep_user):
    other = f.CallFactory(lead=call.lead, rep=rep_user, status=Call.Status.INITIATED)
    params = {"CallSid": SID, "CallStatus": "completed"}
    signed_for_other = RequestValidator(AUTH_TOKEN).compute_signature(
        PUBLIC_BASE_URL + reverse("twilio_voice_status", args=[other.pk]), params)

    response = _post(client, reverse("twilio_voice_status", args=[call.pk]), params, signature=signed_for_other)

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_forged_twiml_request_is_refused(client, call):
    response = _post(client, reverse("twilio_voice_twiml", args=[call.pk]), {"CallSid": SID}, signature="forged")
    assert response.status_code == 403
    assert b"Dial" not in response.content


def test_without_an_auth_token_everything_is_refused(client, call, settings):
    settings.TWILIO_AUTH_TOKEN = ""
    response = _status(client, call, "ringing")
    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


# --- status callbacks ----------------------------------------------------------------------


LEAD_LEG_SID = "CA" + "c" * 32


def _lead_leg(client, call, status, **extra):
    """A callback of the lead's leg, to the URL the TwiML's <Number statusCallback> names."""
    path = reverse("twilio_voice_status", args=[call.pk]) + "?leg=lead"
    return _post(client, path, {"CallSid": LEAD_LEG_SID, "ParentCallSid": call.provider_sid, "CallStatus": status,
                                **extra})


def test_status_callbacks_are_stored_once_and_applied(client, call):
    for status in ("initiated", "ringing", "in-progress"):
        assert _status(client, call, status).status_code == 200
    assert _lead_leg(client, call, "in-progress").status_code == 200
    assert _lead_leg(client, call, "completed", CallDuration="48").status_code == 200
    assert _status(client, call, "completed", CallDuration="61").status_code == 200
    assert _status(client, call, "completed", CallDuration="61").status_code == 200  # Twilio's retry

    events = WebhookEvent.objects.filter(source=WebhookEvent.Source.TWILIO_VOICE)
    assert sorted(events.values_list("event_id", flat=True)) == sorted(
        [f"{SID}:{s}" for s in ("initiated", "ringing", "in-progress", "completed")]
        + [f"{LEAD_LEG_SID}:{s}" for s in ("in-progress", "completed")])
    assert all(event.processed_at for event in events)
    call.refresh_from_db()
    # The talk time of the lead's leg, not the rep's leg's 61 s (which counts the lead's ringing).
    assert call.status == Call.Status.COMPLETED and call.duration_seconds == 48
    assert call.answered_at is not None and call.ended_at is not None


def test_a_forged_lead_leg_callback_is_refused(client, call):
    path = reverse("twilio_voice_status", args=[call.pk])
    params = {"CallSid": LEAD_LEG_SID, "CallStatus": "completed", "CallDuration": "999"}
    signed_without_leg = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + path, params)

    response = _post(client, path + "?leg=lead", params, signature=signed_without_leg)

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


def test_status_callbacks_never_move_a_call_backwards(client, call):
    _lead_leg(client, call, "completed", CallDuration="30")
    _status(client, call, "completed", CallDuration="42")
    # Late, out-of-order callbacks after the end.
    _status(client, call, "ringing")
    _status(client, call, "in-progress")

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED and call.duration_seconds == 30
    assert WebhookEvent.objects.filter(event_id=f"{SID}:ringing", processed_at__isnull=False).exists()


@pytest.mark.parametrize("params", [
    {"CallSid": "not-a-sid", "CallStatus": "ringing"},
    {"CallSid": SID, "CallStatus": ""},
    {"CallSid": SID, "CallStatus": "ring\x00ing"},
])
def test_malformed_callbacks_are_refused_without_storing(client, call, params):
    response = _post(client, reverse("twilio_voice_status", args=[call.pk]), params)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


def test_a_callback_for_an_unknown_call_is_stored_and_ignored(client, db):
    response = _post(client, reverse("twilio_voice_status", args=[999999]), {"CallSid": SID, "CallStatus": "ringing"})
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.processed_at is not None


# --- TwiML ----------------------------------------------------------------------------------


def test_twiml_dials_the_lead_with_the_company_caller_id(client, call):
    response = _post(client, reverse("twilio_voice_twiml", args=[call.pk]), {"CallSid": SID})

    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    twiml = response.content.decode()
    assert '<Dial callerId="+15125550100">' in twiml
    # The lead's leg reports its answer and end (the talk time) to the call's status URL.
    lead_leg_url = PUBLIC_BASE_URL + reverse("twilio_voice_status", args=[call.pk]) + "?leg=lead"
    assert (f'<Number statusCallback="{lead_leg_url}" statusCallbackEvent="answered completed" '
            'statusCallbackMethod="POST">+15125550177</Number>') in twiml
    assert "record" not in twiml and "<Say>" not in twiml


def test_recorded_calls_play_a_notice_to_the_lead_and_record(client, call):
    Call.objects.filter(pk=call.pk).update(recorded=True)

    twiml = _post(client, reverse("twilio_voice_twiml", args=[call.pk]), {"CallSid": SID}).content.decode()

    notice = PUBLIC_BASE_URL + reverse("twilio_voice_notice")
    assert 'record="record-from-answer-dual"' in twiml
    assert f'url="{notice}"' in twiml
    said = _post(client, reverse("twilio_voice_notice"), {"CallSid": "CA" + "b" * 32}).content.decode()
    assert "<Say>This call may be recorded" in said


def test_twiml_for_an_opted_out_lead_hangs_up_without_dialling(client, call):
    type(call.lead).objects.filter(pk=call.lead_id).update(opted_out_at=datetime(2026, 12, 2, 15, 59, tzinfo=UTC))

    twiml = _post(client, reverse("twilio_voice_twiml", args=[call.pk]), {"CallSid": SID}).content.decode()

    assert "<Dial" not in twiml and "<Hangup" in twiml


def test_twiml_for_an_ended_call_does_not_dial(client, call):
    Call.objects.filter(pk=call.pk).update(status=Call.Status.COMPLETED)
    twiml = _post(client, reverse("twilio_voice_twiml", args=[call.pk]), {"CallSid": SID}).content.decode()
    assert "<Dial" not in twiml


# --- whatever arrives, never a 500 -----------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
VOICE_FORM = st.dictionaries(st.sampled_from(["CallSid", "CallStatus", "CallDuration", "From", "To"]) | ANY_TEXT,
                             ANY_TEXT, max_size=6)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(form=VOICE_FORM, real_sid=st.booleans(), call_id=st.sampled_from([None, 0, 10**30]),
       view=st.sampled_from(["twilio_voice_status", "twilio_voice_twiml", "twilio_voice_notice"]))
def test_signed_garbage_never_crashes_a_voice_webhook(client, call, form, real_sid, call_id, view):
    if real_sid:
        form["CallSid"] = SID
    path = reverse(view) if view == "twilio_voice_notice" else reverse(view, args=[call.pk if call_id is None
                                                                                    else call_id])
    # 403: a form the test client sends differently from how it was signed (as in test_fuzz_public).
    assert _post(client, path, form).status_code in (200, 400, 403)
