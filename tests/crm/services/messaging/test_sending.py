"""Sending one text: a row before the provider, one claim per text, the gate again at send time
on the lead as committed, carrier errors, reconciliation that never re-sends."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from crm.integrations.sms import SmsSendError
from crm.models import Message, Notification, TimelineEvent
from crm.services.messaging.optout import lead_opt_out
from crm.services.messaging.sending import SendRefused, message_claim, message_send, messages_reconcile, sms_send
from tests.crm.services.messaging.support import RecordingBackend, WorkerKilled, at, queued, texting_lead

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def noon():
    with at():
        yield


def test_a_text_is_sent_once_however_often_it_is_asked_for(rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    message = queued(lead)
    backend = RecordingBackend()
    assert message_send(message_id=message.pk, backend=backend) == "sent"
    assert message_send(message_id=message.pk, backend=backend) == "taken"
    assert len(backend.sent) == 1
    message.refresh_from_db()
    # Twilio answers "queued": for us it is sent (the provider has it), never queued again.
    assert (message.status, message.provider_sid) == ("sent", backend.sent[0]["sid"])
    assert message.sent_at == timezone.now()
    lead.refresh_from_db()
    assert lead.status == "CONTACTED" and lead.last_contacted_at == timezone.now()
    assert TimelineEvent.objects.filter(lead=lead, kind="message_out").count() == 1


def test_21610_opts_the_lead_out_and_cancels_what_was_queued(rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    first, second = queued(lead, "one"), queued(lead, "two")
    backend = RecordingBackend(fail_with=SmsSendError("unsubscribed", code="21610", permanent=True, http_status=400))
    assert message_send(message_id=first.pk, backend=backend) == "failed"
    lead.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    assert lead.opted_out_at is not None and (first.status, first.error_code) == ("failed", "21610")
    assert second.status == "canceled"
    assert Notification.objects.get(recipient=rep_user).kind == "send_failed"
    assert TimelineEvent.objects.filter(lead=lead, kind="opt_out").count() == 1


def test_a_dead_number_is_flagged_and_no_further_text_goes():
    lead = texting_lead()
    first, second = queued(lead, "one"), queued(lead, "two")
    message_send(message_id=first.pk, backend=RecordingBackend(
        fail_with=SmsSendError("landline", code="30006", permanent=True, http_status=400)))
    lead.refresh_from_db()
    second.refresh_from_db()
    assert lead.number_flagged_at is not None and second.status == "canceled"


def test_no_answer_from_the_provider_leaves_it_for_the_reconciler_not_failed_not_resent():
    message = queued(texting_lead())
    backend = RecordingBackend(fail_with=SmsSendError("Twilio send failed: ReadTimeout"))
    assert message_send(message_id=message.pk, backend=backend) == "unknown"
    message.refresh_from_db()
    assert message.status == "sending" and "checking with the provider" in message.error_message


def test_a_429_puts_the_text_back_in_the_queue_later():
    message = queued(texting_lead())
    backend = RecordingBackend(fail_with=SmsSendError("Too many", code="20429", http_status=429))
    assert message_send(message_id=message.pk, backend=backend) == "requeued"
    message.refresh_from_db()
    assert message.status == "queued" and message.send_at > timezone.now()


def test_a_kill_during_the_provider_call_leaves_one_text_to_reconcile_and_it_is_never_resent():
    lead = texting_lead()
    went_out, never_left = queued(lead, "went out"), queued(lead, "never left")
    backend = RecordingBackend()
    backend.sent.append({"to": lead.phone, "body": "went out", "sid": "SMfound", "from": ""})
    for message in (went_out, never_left):
        with pytest.raises(WorkerKilled):
            message_send(message_id=message.pk, backend=RecordingBackend(crash=True))
    assert set(Message.objects.values_list("status", flat=True)) == {"sending"}
    assert message_send(message_id=went_out.pk, backend=backend) == "taken"  # nobody claims it again
    with at(timezone.now() + timedelta(minutes=10)):
        assert messages_reconcile(backend=backend) == {"adopted": 1, "failed": 1}
    went_out.refresh_from_db()
    never_left.refresh_from_db()
    assert (went_out.status, went_out.provider_sid) == ("sent", "SMfound")
    assert never_left.status == "failed" and "not re-sent" in never_left.error_message
    assert len(backend.sent) == 1  # nothing was sent again
    assert TimelineEvent.objects.filter(lead=lead, kind="message_out").count() == 1


def test_the_reconciler_leaves_a_text_alone_while_its_send_may_still_be_running():
    message = queued(texting_lead())
    assert message_claim(message_id=message.pk, now=timezone.now())
    assert messages_reconcile(backend=RecordingBackend()) == {"adopted": 0, "failed": 0}


def test_the_gate_is_asked_again_at_send_time_on_the_lead_as_committed():
    lead = texting_lead()
    message = queued(lead)
    stale_copy = type(lead).objects.get(pk=lead.pk)
    lead_opt_out(lead=stale_copy, source="test")
    backend = RecordingBackend()
    assert message_send(message_id=message.pk, backend=backend) == "taken"  # the opt-out cancelled it
    other = queued(lead)  # queued after the opt-out by a path that did not check
    assert message_send(message_id=other.pk, backend=backend) == "canceled"
    other.refresh_from_db()
    assert backend.sent == [] and "opted out" in other.error_message


@override_settings(SMS_STALE_AFTER_HOURS=12)
def test_spoke_973_a_text_whose_slot_is_long_past_is_not_sent_next_morning():
    message = queued(texting_lead(), send_at=timezone.now() - timedelta(hours=20))
    backend = RecordingBackend()
    assert message_send(message_id=message.pk, backend=backend) == "canceled"
    message.refresh_from_db()
    assert backend.sent == [] and message.error_message.startswith("stale")


def test_manual_send_goes_through_the_gate(rep_user):
    lead = texting_lead(opted_out_at=timezone.now())
    with pytest.raises(SendRefused, match="opted out") as refused:
        sms_send(lead=lead, body="hi", sent_by=rep_user)
    assert refused.value.code == "opted_out"
    assert not Message.objects.exists()
    with pytest.raises(SendRefused, match="empty"):
        sms_send(lead=texting_lead(), body="   ", sent_by=rep_user)


def test_a_reply_typed_by_a_person_is_sent_at_once_without_waiting_for_a_slot(rep_user):
    backend = RecordingBackend()
    message = sms_send(lead=texting_lead(), body="Sure, calling you now", sent_by=rep_user, backend=backend)
    assert message.status == "sent" and len(backend.sent) == 1
