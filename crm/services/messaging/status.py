"""Delivery status callbacks: a message's status only moves forward, and final states stay."""

from django.utils import timezone

from crm.models import Lead, Message, WebhookEvent
from crm.services.messaging.sending import NUMBER_DEAD_CODES, OPTED_OUT_CODE, _notify_failure

RANK = {
    Message.Status.QUEUED: 0, Message.Status.SENDING: 1, Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3, Message.Status.UNDELIVERED: 3, Message.Status.FAILED: 3,
}
FINAL = {Message.Status.DELIVERED, Message.Status.UNDELIVERED, Message.Status.FAILED, Message.Status.CANCELED,
         Message.Status.RECEIVED}
ALIASES = {"accepted": Message.Status.QUEUED, "scheduled": Message.Status.QUEUED, "read": Message.Status.DELIVERED}


def message_status_apply(*, webhook_event: WebhookEvent) -> str:
    """Apply one stored status callback; returns what happened (for the event log)."""
    payload = webhook_event.payload
    new = ALIASES.get(payload.get("MessageStatus", ""), payload.get("MessageStatus", ""))
    if new not in RANK:
        return f"ignored: unknown status {new!r}"
    message = Message.objects.select_related("lead", "lead__assigned_rep", "sent_by").filter(
        provider_sid=payload.get("MessageSid")).first()
    if message is None:
        return "kept: unknown message sid"
    if message.status in FINAL or RANK[new] <= RANK.get(message.status, -1):
        return f"ignored: {message.status} does not move back to {new}"
    now = timezone.now()
    code = str(payload.get("ErrorCode") or "")
    updates = {"status": new, "error_code": code or message.error_code}
    if new == Message.Status.DELIVERED:
        updates["delivered_at"] = now
    # Conditional on the status read above, so a concurrent callback cannot move it back.
    if not Message.objects.filter(pk=message.pk, status=message.status).update(**updates):
        return "ignored: changed concurrently"
    if new in (Message.Status.UNDELIVERED, Message.Status.FAILED):
        if code == OPTED_OUT_CODE:
            Lead.objects.filter(pk=message.lead_id, opted_out_at__isnull=True).update(opted_out_at=now)
        elif code in NUMBER_DEAD_CODES:
            Lead.objects.filter(pk=message.lead_id, number_flagged_at__isnull=True).update(number_flagged_at=now)
        _notify_failure(message, f"{new} (error {code or 'none'})")
    return f"{message.status} -> {new}"
