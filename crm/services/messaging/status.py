"""Delivery status callbacks: a message's status only moves forward, and final states stay.

A callback can beat the sender's own write of the SID (Twilio posts "sent" while our API call
is still returning). Such a callback is kept, waiting, and applied the moment the SID is
recorded (`status_callbacks_apply_waiting` in services/webhooks.py, called by every writer of
a SID), with the scheduled webhook retry as the safety net. None is dropped.

A text reported failed or undelivered after it went out was no answer after all: a reply it
had answered waits again (crm.services.reply_waiting).
"""

from django.utils import timezone

from crm.models import Message, WebhookEvent
from crm.services.errors import EventNotReady
from crm.services.messaging.outcomes import message_failed
from crm.services.reply_waiting import reply_waiting_recount, text_answers

RANK = {
    Message.Status.QUEUED: 0, Message.Status.SENDING: 1, Message.Status.SENT: 2,
    Message.Status.DELIVERED: 3, Message.Status.UNDELIVERED: 3, Message.Status.FAILED: 3,
}
FINAL = {Message.Status.DELIVERED, Message.Status.UNDELIVERED, Message.Status.FAILED, Message.Status.CANCELED,
         Message.Status.RECEIVED}
ALIASES = {"accepted": Message.Status.QUEUED, "scheduled": Message.Status.QUEUED, "read": Message.Status.DELIVERED}


def _message_recorded(sid: str) -> bool:
    return Message.objects.filter(provider_sid=sid).exists()


def message_status_apply(*, webhook_event: WebhookEvent) -> str:
    """Apply one stored status callback; returns what happened (for the event log). Raises
    EventNotReady when no message has this SID yet: the event waits for it."""
    payload = webhook_event.payload
    new = ALIASES.get(payload.get("MessageStatus", ""), payload.get("MessageStatus", ""))
    if new not in RANK:
        return f"ignored: unknown status {new!r}"
    sid = payload.get("MessageSid", "")
    message = Message.objects.select_related("lead", "lead__assigned_rep", "sent_by", "sequence_step").filter(
        provider_sid=sid).first()
    if message is None:
        raise EventNotReady(f"waiting: no message with SID {sid} recorded yet",
                            recheck=lambda: _message_recorded(sid))
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
        if text_answers(message.status):  # it counted as an answer to the lead's reply: no more
            reply_waiting_recount(lead_id=message.lead_id)
        # A sequence step already ended when the provider took the text; this only tells people
        # and acts on the carrier's code (21610 opts out, dead numbers are flagged).
        message_failed(message=message, lead=message.lead, step=message.sequence_step, code=code,
                       text=f"{new} (error {code or 'none'})", now=now)
    return f"{message.status} -> {new}"
