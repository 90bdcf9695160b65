"""Sending: a row before the provider, one claim per message, carrier errors, reconciliation,
status callbacks that only move forward."""

import pytest
from django.test import override_settings

from crm.integrations.sms import SmsSendError
from crm.models import Message, Notification, WebhookEvent
from crm.services.messaging.sending import SendRefused, messages_deliver, messages_reconcile, sms_send
from crm.services.messaging.status import message_status_apply
from tests.crm.services.messaging.support import NOON_CHICAGO, RecordingBackend, WorkerKilled, texting_lead

pytestmark = pytest.mark.django_db


def queued(lead, body="Hello"):
    return Message.objects.create(lead=lead, direction="out", body=body, to_number=lead.phone, status="queued")


def test_a_claimed_message_is_sent_once_even_if_delivered_twice(rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    message = queued(lead)
    backend = RecordingBackend()
    messages_deliver(message_ids=[message.pk], backend=backend, now=NOON_CHICAGO)
    messages_deliver(message_ids=[message.pk], backend=backend, now=NOON_CHICAGO)
    assert len(backend.sent) == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_sid == backend.sent[0]["sid"]


def test_21610_opts_the_lead_out_and_is_never_retried(rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    message = queued(lead)
    backend = RecordingBackend(fail_with=SmsSendError("unsubscribed", code="21610", permanent=True))
    messages_deliver(message_ids=[message.pk], backend=backend, now=NOON_CHICAGO)
    lead.refresh_from_db()
    message.refresh_from_db()
    assert lead.opted_out_at is not None and message.status == "failed" and message.error_code == "21610"
    assert Notification.objects.get(recipient=rep_user).kind == "send_failed"
    assert messages_deliver(message_ids=[message.pk], backend=RecordingBackend(), now=NOON_CHICAGO).sent == 0


def test_a_dead_number_is_flagged():
    lead = texting_lead()
    messages_deliver(message_ids=[queued(lead).pk], now=NOON_CHICAGO,
                     backend=RecordingBackend(fail_with=SmsSendError("landline", code="30006", permanent=True)))
    lead.refresh_from_db()
    assert lead.number_flagged_at is not None


def test_a_crash_mid_send_is_reconciled_never_resent():
    lead = texting_lead()
    adopted, lost = queued(lead, "went out"), queued(lead, "never left")
    backend = RecordingBackend()
    backend.sent.append({"to": lead.phone, "body": "went out", "sid": "SMfound", "from": ""})
    with pytest.raises(WorkerKilled):
        messages_deliver(message_ids=[adopted.pk, lost.pk], backend=RecordingBackend(crash=True), now=NOON_CHICAGO)
    assert set(Message.objects.values_list("status", flat=True)) == {"sending"}
    assert messages_deliver(message_ids=[adopted.pk, lost.pk], backend=backend, now=NOON_CHICAGO).sent == 0
    from datetime import timedelta

    from django.utils import timezone

    result = messages_reconcile(older_than=timedelta(minutes=5), backend=backend,
                                now=timezone.now() + timedelta(minutes=10))
    assert result == {"adopted": 1, "failed": 1}
    adopted.refresh_from_db()
    lost.refresh_from_db()
    assert (adopted.status, adopted.provider_sid) == ("delivered", "SMfound")
    assert lost.status == "failed" and "not re-sent" in lost.error_message
    assert len(backend.sent) == 1  # nothing was sent again


def test_manual_send_goes_through_the_gate(rep_user):
    lead = texting_lead(opted_out_at=NOON_CHICAGO)
    with pytest.raises(SendRefused, match="opted out"):
        sms_send(lead=lead, body="hi", sent_by=rep_user)
    assert not Message.objects.exists()
    with pytest.raises(SendRefused, match="empty"):
        sms_send(lead=texting_lead(), body="   ", sent_by=rep_user)


def status_event(sid, status, code=""):
    event_id = f"{sid}:{status}"
    return WebhookEvent.objects.create(source="twilio_status", event_id=event_id, event_type=status,
                                       payload={"MessageSid": sid, "MessageStatus": status, "ErrorCode": code})


def test_status_only_moves_forward_and_final_states_stay_final():
    message = queued(texting_lead())
    Message.objects.filter(pk=message.pk).update(status="sent", provider_sid="SMabc")
    assert message_status_apply(webhook_event=status_event("SMabc", "delivered")) == "sent -> delivered"
    assert message_status_apply(webhook_event=status_event("SMabc", "sent")).startswith("ignored")
    assert message_status_apply(webhook_event=status_event("SMabc", "failed", "30003")).startswith("ignored")
    message.refresh_from_db()
    assert message.status == "delivered" and message.delivered_at is not None


def test_failed_callback_with_21610_opts_out_and_unknown_sids_are_kept():
    lead = texting_lead()
    message = queued(lead)
    Message.objects.filter(pk=message.pk).update(status="sent", provider_sid="SMdef")
    message_status_apply(webhook_event=status_event("SMdef", "failed", "21610"))
    lead.refresh_from_db()
    assert lead.opted_out_at is not None
    assert message_status_apply(webhook_event=status_event("SMnope", "delivered")) == "kept: unknown message sid"
    assert WebhookEvent.objects.filter(event_id="SMnope:delivered").exists()


@override_settings(SMS_RATE_PER_NUMBER=1)
def test_per_number_rate_limit_paces_sends(monkeypatch):
    waits = []
    from crm.services import throttle

    monkeypatch.setattr(throttle.time, "sleep", waits.append)
    lead = texting_lead()
    ids = [queued(lead, f"m{i}").pk for i in range(4)]
    Message.objects.filter(pk__in=ids).update(from_number="+15125550100")
    messages_deliver(message_ids=ids, backend=RecordingBackend(), now=NOON_CHICAGO)
    assert len(waits) == 3 and all(w == pytest.approx(1.0 * (i + 1), abs=0.25) for i, w in enumerate(waits))
