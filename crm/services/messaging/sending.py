"""Sending one text: the unit every send goes through (sequence steps, bulk texts, replies).

A Message row (queued) exists before the provider is called. `message_send` then:
1. claims it, queued -> sending, and commits: from here no other sender touches it;
2. in a second short transaction, locks the lead row, reads the lead again and asks the gate
   (opt-out, consent, status, quiet hours): an opt-out committed before this point is honoured,
   and one arriving now waits for the lock, so it cannot slip in before the provider call;
3. calls the provider and records its SID and status before committing.
A kill between 1 and 3 leaves this one text "sending": the reconciler asks the provider and
adopts it or records it failed, and never sends it again.
"""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.integrations.sms import SmsSendError, get_sms_backend, sms_status_callback_url
from crm.models import CompanySettings, Lead, Message
from crm.services.enrollments import StepBook
from crm.services.messaging import sendrows
from crm.services.messaging.gate import Decision, Refusal, can_send
from crm.services.messaging.outcomes import message_canceled, message_failed, message_sent
from crm.services.webhooks import status_callbacks_apply_waiting

# A 429 puts the text back in the queue this much later.
RATE_LIMITED_BACKOFF = timedelta(seconds=30)


class SendRefused(Exception):
    """The gate said no; the message says why."""

    def __init__(self, reason: str, code: str = ""):
        super().__init__(reason)
        self.code = code


def sender_numbers(company: CompanySettings) -> list[str]:
    return [n.strip() for n in company.sender_numbers.splitlines() if n.strip()]


def sender_for(lead: Lead, company: CompanySettings) -> str:
    """A sticky number from the pool, so each lead always hears from the same number."""
    pool = sender_numbers(company)
    if not pool:
        return ""
    return pool[int(hashlib.sha256(str(lead.pk).encode()).hexdigest()[:8], 16) % len(pool)]


def body_refusal(body: str) -> str:
    if not body.strip():
        return "the message is empty"
    if len(body.strip()) > 1600:
        return "the message is longer than 1,600 characters"
    return ""


def sms_send(*, lead: Lead, body: str, sent_by=None, automated: bool = False, backend=None) -> Message:
    """Send one text a person typed, now: a queued row, then `message_send`. Raises SendRefused."""
    refusal = body_refusal(body)
    if refusal:
        raise SendRefused(refusal)
    company = CompanySettings.load()
    decision = can_send(lead, automated=automated, company=company)
    if not decision:
        raise SendRefused(decision.reason, decision.code)
    now = timezone.now()
    message = Message.objects.create(
        lead=lead, direction=Message.Direction.OUTBOUND, body=body.strip(), from_number=sender_for(lead, company),
        to_number=lead.phone, status=Message.Status.QUEUED, sent_by=sent_by, send_at=now,
    )
    message_send(message_id=message.pk, backend=backend, company=company, now=now)
    message.refresh_from_db()
    return message


def message_claim(*, message_id: int, now) -> bool:
    """queued -> sending, committed at once; False when another sender has it (or it ended)."""
    return sendrows.message_claim(message_id=message_id, now=now) is not None


def _recheck(message: Message, lead: Lead, step, now, company) -> Decision:
    """The gate again, at send time, on the lead as committed now."""
    stale_after = timedelta(hours=settings.SMS_STALE_AFTER_HOURS)
    planned = message.send_at or message.created_at
    if now - planned > stale_after:
        return Decision(False, f"stale: due {planned:%Y-%m-%d %H:%M} UTC, not sent late", Refusal.STALE)
    return can_send(lead, now, automated=message.sent_by_id is None or message.bulk_send_id is not None,
                    sequence=message.enrollment_id is not None, step=step, company=company)


def message_send(*, message_id: int | None = None, claimed: Message | None = None, backend=None, company=None,
                 steps: StepBook | None = None, now=None) -> str:
    """Send one queued text (see the module docstring): `message_id` to claim it here, or the
    `claimed` row a sender already holds. Returns its outcome: sent, failed, canceled, requeued,
    unknown (left "sending" for the reconciler) or taken (not ours)."""
    now = now or timezone.now()
    message = claimed or sendrows.message_claim(message_id=message_id, now=now)
    if message is None:
        return "taken"
    backend = backend or get_sms_backend()
    company = company or CompanySettings.load()
    steps = steps or StepBook()
    step = steps.get(message.sequence_step_id)
    with transaction.atomic():
        lead = sendrows.lead_lock(lead_id=message.lead_id)
        decision = _recheck(message, lead, step, now, company)
        if not decision:
            Message.objects.filter(pk=message.pk).update(status=Message.Status.CANCELED,
                                                         error_message=decision.reason[:255])
            message_canceled(message=message, lead=lead, step=step, decision=decision, company=company, now=now)
            return "canceled"
        try:
            result = backend.send(
                to=message.to_number, from_=message.from_number, body=message.body,
                status_callback=sms_status_callback_url() if backend.name == "twilio" else "",
                messaging_service_sid=company.messaging_service_sid or settings.TWILIO_MESSAGING_SERVICE_SID)
        except SmsSendError as exc:
            return _send_error_record(message, lead, step, exc, now)
        status = result.status if result.status in (Message.Status.DELIVERED, Message.Status.FAILED,
                                                     Message.Status.UNDELIVERED) else Message.Status.SENT
        message_sent(message=message, step=step, following=steps.following(step) if step else None, now=now,
                     sid=result.sid, status=status, error_code=result.error_code)
    if backend.name == "twilio":
        # Callbacks that came in before the SID was recorded were kept for this moment.
        status_callbacks_apply_waiting(sids=[result.sid])
    return "sent"


def _send_error_record(message: Message, lead: Lead, step, exc: SmsSendError, now) -> str:
    if exc.outcome_unknown:
        # Twilio may have it: leave it "sending" for the reconciler, which asks before deciding.
        Message.objects.filter(pk=message.pk).update(error_message=f"{exc} (checking with the provider)"[:255])
        return "unknown"
    if exc.rate_limited and not exc.permanent:
        # Refused for now, not taken: back in the queue (the stale limit ends a long run of these).
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.QUEUED, claimed_at=None, error_message=str(exc)[:255],
            send_at=now + RATE_LIMITED_BACKOFF)
        return "requeued"
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED, error_code=exc.code,
                                                 error_message=str(exc)[:255])
    message_failed(message=message, lead=lead, step=step, code=exc.code, text=str(exc), now=now)
    return "failed"


def messages_reconcile(*, older_than: timedelta = timedelta(minutes=1), backend=None, now=None) -> dict:
    """Settle texts left "sending" by a crash or an unanswered call: ask the provider whether
    each went out. Found: its SID and status are adopted and the step counts as sent. Not found:
    failed with the reason, and never sent again (the provider may still have it)."""
    now = now or timezone.now()
    backend = backend or get_sms_backend()
    adopted = failed = 0
    stuck = list(Message.objects.filter(status=Message.Status.SENDING, claimed_at__lt=now - older_than)
                 .values_list("pk", flat=True)[:500])
    for message_id in stuck:
        message = Message.objects.select_related("lead", "lead__assigned_rep", "sent_by", "sequence_step").get(
            pk=message_id)
        step = message.sequence_step
        found = backend.find_sent(to=message.to_number, from_=message.from_number, body=message.body,
                                  since=(message.claimed_at or message.created_at) - timedelta(minutes=1))
        with transaction.atomic():
            if found is not None:
                if not Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(
                        provider_sid=found.sid, status=Message.Status.SENT, error_message="",
                        sent_at=message.claimed_at or message.created_at):
                    continue
                message.provider_sid = found.sid
                message_sent(message=message, step=step, now=message.claimed_at or now, status=Message.Status.SENT)
                adopted += 1
            else:
                reason = "not confirmed by the provider after a crash; not re-sent"
                if not Message.objects.filter(pk=message_id, status=Message.Status.SENDING).update(
                        status=Message.Status.FAILED, error_message=reason):
                    continue
                message_failed(message=message, lead=message.lead, step=step, code="", text=reason, now=now)
                failed += 1
        if found is not None:
            status_callbacks_apply_waiting(sids=[found.sid])
    return {"adopted": adopted, "failed": failed}

