"""Processing stored webhook events: the same handler whether the webhook just arrived or a
person retries an event whose handler failed (the event keeps its error until it succeeds)."""

import logging
import traceback
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.models import WebhookEvent

logger = logging.getLogger(__name__)
ERROR_MAX_CHARS = 4000


def _sms_inbound(event: WebhookEvent) -> Any:
    from crm.services.messaging.inbound import sms_inbound_process

    return sms_inbound_process(webhook_event=event)


def _sms_status(event: WebhookEvent) -> Any:
    from crm.services.messaging.status import message_status_apply

    return message_status_apply(webhook_event=event)


HANDLERS: dict[str, Callable[[WebhookEvent], Any]] = {
    WebhookEvent.Source.TWILIO_SMS: _sms_inbound,
    WebhookEvent.Source.TWILIO_STATUS: _sms_status,
}


def webhook_event_process(*, event: WebhookEvent) -> tuple[bool, Any]:
    """Run the event's handler in a transaction. (True, result) and processed_at set on success;
    (False, None) with the traceback kept on the event (its partial writes rolled back)."""
    handler = HANDLERS.get(event.source)
    event.attempts += 1
    try:
        if handler is None:
            raise LookupError(f"No handler for {event.source} events")
        with transaction.atomic():
            result = handler(event)
    except Exception:
        logger.exception("Webhook %s %s failed", event.source, event.event_id)
        event.error = traceback.format_exc()[-ERROR_MAX_CHARS:]
        event.save(update_fields=["attempts", "error"])
        return False, None
    event.processed_at = timezone.now()
    event.error = ""
    event.save(update_fields=["attempts", "error", "processed_at"])
    return True, result
