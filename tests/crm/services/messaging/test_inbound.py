"""Texts from leads: every opt-out keyword, opt-in, HELP, stop-in-own-words, replies, and
the bugs other projects shipped, as named tests."""

import itertools

import pytest

from crm.models import CompanySettings, Enrollment, Lead, Message, Notification, TimelineEvent, WebhookEvent
from crm.services.messaging.inbound import sms_inbound_process
from tests.crm.services.messaging.support import enroll, sequence_with_steps, texting_lead

pytestmark = pytest.mark.django_db
_sids = itertools.count(1)


def inbound(lead, body, **extra):
    sid = f"SMin{next(_sids):030d}"
    payload = {"MessageSid": sid, "From": lead.phone, "To": "+15125550100", "Body": body, **extra}
    event = WebhookEvent.objects.create(source="twilio_sms", event_id=sid, event_type="inbound", payload=payload)
    return sms_inbound_process(webhook_event=event)


@pytest.fixture
def lead(rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    sequence, steps = sequence_with_steps(0, 2)
    enroll(lead, sequence, steps, lead.created_at)
    Message.objects.create(lead=lead, direction="out", body="queued one", to_number=lead.phone, status="queued")
    return lead


@pytest.mark.parametrize("body", ["STOP", "stop", " Stop. ", "STOPALL", "Unsubscribe", "cancel", "END", "quit",
                                  "REVOKE", "optout", "opt out", "Opt-Out!", "s t o p"])
def test_every_opt_out_keyword_opts_out_at_once(lead, body):
    reply = inbound(lead, body)
    lead.refresh_from_db()
    assert lead.opted_out_at is not None
    assert Enrollment.objects.get(lead=lead).status == Enrollment.Status.STOPPED
    assert Message.objects.get(body="queued one").status == "canceled"
    assert "unsubscribed" in reply and "START" in reply


def test_mautic_11333_optouttype_is_honoured_and_start_works(lead):
    # Twilio's Advanced Opt-Out: the body may be anything, OptOutType says STOP. Twilio replies itself.
    assert inbound(lead, "please no", OptOutType="STOP") == ""
    lead.refresh_from_db()
    assert lead.opted_out_at is not None
    assert inbound(lead, "START") == f"You're resubscribed to {CompanySettings.load().name} texts. Reply STOP to unsubscribe."
    lead.refresh_from_db()
    assert lead.opted_out_at is None
    assert list(TimelineEvent.objects.filter(lead=lead, kind__in=["opt_out", "opt_in"]).values_list("kind", flat=True)
                .order_by("pk")) == ["opt_out", "opt_in"]


@pytest.mark.parametrize("body", ["REVOKE", "OPTOUT"])
def test_rock_6399_revoke_and_optout_are_opt_outs(lead, body):
    inbound(lead, body)
    lead.refresh_from_db()
    assert lead.opted_out_at is not None


def test_rock_7049_the_stop_confirmation_is_delivered_once(lead):
    first = inbound(lead, "STOP")
    assert first.startswith("You're unsubscribed")  # sent as the webhook's reply, not through the gate
    assert inbound(lead, "STOP") == ""  # at most one confirmation


@pytest.mark.parametrize("body", ["START", "unstop", "Yes"])
def test_start_words_opt_back_in(lead, body):
    inbound(lead, "STOP")
    inbound(lead, body)
    lead.refresh_from_db()
    assert lead.opted_out_at is None


@pytest.mark.parametrize("body", ["HELP", "info"])
def test_help_gets_the_help_text(lead, body):
    assert CompanySettings.load().help_text_reply in inbound(lead, body)
    lead.refresh_from_db()
    assert lead.opted_out_at is None


@pytest.mark.parametrize("body", ["please stop texting me", "Remove me from your list", "don't text me again",
                                  "Take me off this list", "wrong number"])
def test_stop_in_own_words_pauses_and_flags_for_a_human(lead, rep_user, body):
    assert inbound(lead, body) == ""
    lead.refresh_from_db()
    assert lead.needs_human_at is not None and lead.opted_out_at is None
    assert Enrollment.objects.get(lead=lead).status == Enrollment.Status.PAUSED
    assert Notification.objects.get(recipient=rep_user).kind == "needs_human"


def test_a_reply_stops_sequences_marks_replied_and_tells_the_rep(lead, rep_user):
    assert inbound(lead, "Sounds interesting, call me tomorrow") == ""
    lead.refresh_from_db()
    assert lead.status == Lead.Status.REPLIED and lead.inbound_messages == 1
    assert Enrollment.objects.get(lead=lead).stop_reason == "the lead replied"
    received = Message.objects.get(lead=lead, direction="in")
    assert received.status == "received" and received.body.startswith("Sounds")
    assert TimelineEvent.objects.filter(lead=lead, kind="message_in").count() == 1
    assert Notification.objects.get(recipient=rep_user).kind == "reply"


def test_yes_from_a_lead_who_never_opted_out_is_a_reply(lead):
    inbound(lead, "Yes")
    lead.refresh_from_db()
    assert lead.status == Lead.Status.REPLIED


def test_unknown_sender_changes_nothing():
    stranger = texting_lead()
    stranger_phone = stranger.phone
    stranger.delete()
    event = WebhookEvent.objects.create(source="twilio_sms", event_id="SMx", payload={
        "MessageSid": "SMx", "From": stranger_phone, "Body": "hi"})
    assert sms_inbound_process(webhook_event=event) == ""
    assert not Message.objects.exists()
