"""Sending texts. A Message row (queued) exists before the provider is called; each queued
message is claimed (queued -> sending) by exactly one process; a message left "sending" by a
crash is reconciled with the provider, never blindly sent again."""

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from crm.integrations.sms import SmsSendError, get_sms_backend, sms_status_callback_url
from crm.models import CompanySettings, Lead, Message, Notification, TimelineEvent
from crm.services.bulk import bulk_set
from crm.services.messaging.gate import can_send
from crm.services.throttle import throttle_wait

OPTED_OUT_CODE = "21610"
# Carrier answers that mean this number will never take a text from us.
NUMBER_DEAD_CODES = {"21211", "21214", "21612", "21614", "30003", "30005", "30006"}


class SendRefused(Exception):
    """The gate said no; the message says why."""


def sender_numbers(company: CompanySettings) -> list[str]:
    return [n.strip() for n in company.sender_numbers.splitlines() if n.strip()]


def sender_for(lead: Lead, company: CompanySettings) -> str:
    """A sticky number from the pool, so each lead always hears from the same number."""
    pool = sender_numbers(company)
    if not pool:
        return ""
    return pool[int(hashlib.sha256(str(lead.pk).encode()).hexdigest()[:8], 16) % len(pool)]


def sms_send(*, lead: Lead, body: str, sent_by=None, automated: bool = False) -> Message:
    """Send one text now (a reply typed by a person, or a bulk action). Raises SendRefused."""
    body = body.strip()
    if not body:
        raise SendRefused("the message is empty")
    if len(body) > 1600:
        raise SendRefused("the message is longer than 1,600 characters")
    company = CompanySettings.load()
    decision = can_send(lead, automated=automated, company=company)
    if not decision:
        raise SendRefused(decision.reason)
    message = Message.objects.create(
        lead=lead, direction=Message.Direction.OUTBOUND, body=body, from_number=sender_for(lead, company),
        to_number=lead.phone, status=Message.Status.QUEUED, sent_by=sent_by,
    )
    messages_deliver(message_ids=[message.pk])
    message.refresh_from_db()
    return message


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    canceled: int = 0
    results: dict = field(default_factory=dict)


def _claim(message_ids: list[int], known: dict[int, Message] | None = None) -> list[Message]:
    """Flip queued -> sending for the given ids; returns only the rows this call won.

    `known` are Message objects already in memory (the dispatcher's), reused as they are.
    """
    with transaction.atomic():
        locked = Message.objects.select_for_update(skip_locked=True, of=("self",)).filter(
            pk__in=message_ids, status=Message.Status.QUEUED)
        if known is not None:
            won = set(locked.values_list("pk", flat=True))
            rows = [known[pk] for pk in message_ids if pk in won]
        else:
            rows = list(locked.select_related("lead", "lead__assigned_rep", "sequence_step", "enrollment"))
        if rows:
            Message.objects.filter(pk__in=[m.pk for m in rows]).update(status=Message.Status.SENDING)
    for message in rows:
        message.status = Message.Status.SENDING
    return rows


def _recheck(message: Message, now, company) -> str:
    """Why a claimed message must not go now ("" if it may): checked again at send time."""
    stale_after = timedelta(hours=settings.SMS_STALE_AFTER_HOURS)
    if now - message.created_at > stale_after:
        return f"stale: queued {message.created_at:%Y-%m-%d %H:%M} UTC, not sent late"
    decision = can_send(message.lead, now, automated=message.sent_by_id is None,
                        sequence=message.enrollment_id is not None, step=message.sequence_step, company=company)
    return "" if decision else decision.reason


def _notify_failure(message: Message, text: str) -> None:
    lead = message.lead
    recipient = message.sent_by or lead.assigned_rep
    if recipient is not None:
        Notification.objects.create(recipient=recipient, lead=lead, kind=Notification.Kind.SEND_FAILED,
                                    text=f"Text to {lead.business_name} failed: {text}"[:500])


def messages_deliver(*, message_ids: list[int] | None = None, messages: list[Message] | None = None,
                     backend=None, now=None) -> DeliveryStats:
    """Send the queued messages among `message_ids` (or the saved `messages` objects), one
    provider call each, in order. Queries are per batch, not per message, except a
    notification for each failure.
    """
    stats = DeliveryStats()
    if messages is not None:
        known = {m.pk: m for m in messages}
        claimed = _claim(list(known), known)
    else:
        claimed = _claim(message_ids or [])
    if not claimed:
        return stats
    backend = backend or get_sms_backend()
    company = CompanySettings.load()
    now = now or timezone.now()
    callback = sms_status_callback_url() if backend.name == "twilio" else ""
    opted_out, dead_numbers, contacted = [], [], []
    for message in claimed:
        refusal = _recheck(message, now, company)
        if refusal:
            message.status, message.error_message = Message.Status.CANCELED, refusal[:255]
            stats.canceled += 1
            continue
        throttle_wait(provider=f"sms:{message.from_number or 'service'}",
                      rate_per_second=settings.SMS_RATE_PER_NUMBER)
        try:
            result = backend.send(to=message.to_number, from_=message.from_number, body=message.body,
                                  status_callback=callback,
                                  messaging_service_sid=company.messaging_service_sid
                                  or settings.TWILIO_MESSAGING_SERVICE_SID)
        except SmsSendError as exc:
            message.status, message.error_code, message.error_message = Message.Status.FAILED, exc.code, str(exc)[:255]
            stats.failed += 1
            if exc.code == OPTED_OUT_CODE:
                opted_out.append(message.lead_id)
            elif exc.permanent and exc.code in NUMBER_DEAD_CODES:
                dead_numbers.append(message.lead_id)
            _notify_failure(message, message.error_message)
            continue
        message.provider_sid, message.status, message.error_code = result.sid, result.status, result.error_code
        message.sent_at = now
        if result.status == Message.Status.DELIVERED:
            message.delivered_at = now
        contacted.append(message)
        stats.sent += 1
    with transaction.atomic():
        bulk_set(claimed, ["status", "provider_sid", "error_code", "error_message", "sent_at", "delivered_at"])
        if opted_out:
            Lead.objects.filter(pk__in=opted_out, opted_out_at__isnull=True).update(opted_out_at=now)
        if dead_numbers:
            Lead.objects.filter(pk__in=dead_numbers, number_flagged_at__isnull=True).update(number_flagged_at=now)
        lead_ids = [m.lead_id for m in contacted]
        if lead_ids:
            Lead.objects.filter(pk__in=lead_ids).update(last_contacted_at=now, status=Case(
                When(status=Lead.Status.NEW, then=Value(Lead.Status.CONTACTED)), default=F("status")))
            TimelineEvent.objects.bulk_create([
                TimelineEvent(lead_id=m.lead_id, kind=TimelineEvent.Kind.MESSAGE_OUT, actor_id=m.sent_by_id,
                              data={"message": m.pk, "sid": m.provider_sid,
                                    "step": m.sequence_step_id, "body": m.body[:160]})
                for m in contacted
            ])
    return stats


def messages_reconcile(*, older_than: timedelta = timedelta(minutes=5), backend=None, now=None) -> dict:
    """Settle messages left "sending" by a crash: ask the provider whether each went out.

    Found: its sid and status are adopted. Not found: marked failed and reported; it is never
    sent again automatically, because the provider may still have it.
    """
    now = now or timezone.now()
    backend = backend or get_sms_backend()
    adopted = failed = 0
    stuck = Message.objects.filter(status=Message.Status.SENDING, created_at__lt=now - older_than).select_related(
        "lead", "lead__assigned_rep", "sent_by")
    for message in stuck:
        found = backend.find_sent(to=message.to_number, from_=message.from_number, body=message.body,
                                  since=message.created_at - timedelta(minutes=1))
        if found is not None:
            Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
                provider_sid=found.sid, status=found.status, sent_at=message.created_at)
            adopted += 1
        else:
            reason = "not confirmed by the provider after a crash; not re-sent"
            Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
                status=Message.Status.FAILED, error_message=reason)
            _notify_failure(message, reason)
            failed += 1
    return {"adopted": adopted, "failed": failed}


def lead_count_inbound(*, lead: Lead) -> None:
    """A reply counts toward engagement: 15 points in the score formula."""
    Lead.objects.filter(pk=lead.pk).update(
        inbound_messages=F("inbound_messages") + 1,
        engagement_score=F("engagement_score") + 0.15,
    )
