"""Processing stored webhook events: the same handler whether the webhook just arrived, the
provider sent it again, the scheduled retry took it, or a person replays it from the admin.

An event is processed once: its row is locked while its handler runs, and a processed event is
never run again. A failed handler keeps its error and is retried with backoff; when the retries
run out, admins are told (once). An event about an object not recorded yet (a status callback
that beat its SID) waits without counting as a failure.
"""

import logging
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from crm.models import Notification, WebhookEvent
from crm.services.billing.stripe_events import stripe_event_handle
from crm.services.calls import call_status_apply
from crm.services.errors import EventNotReady
from crm.services.messaging import inbound, status
from crm.services.notifications import notify

logger = logging.getLogger(__name__)
ERROR_MAX_CHARS = 4000
# After the n-th failed attempt the next one comes this much later; then admins are told.
RETRY_BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
                 timedelta(hours=4))
# A waiting event is looked at again this often, and given up after a day.
WAITING_RECHECK = timedelta(seconds=30)
WAITING_GIVE_UP = timedelta(hours=24)


def _sms_inbound(event: WebhookEvent) -> Any:
    return inbound.sms_inbound_process(webhook_event=event)


def _sms_status(event: WebhookEvent) -> Any:
    return status.message_status_apply(webhook_event=event)


HANDLERS: dict[str, Callable[[WebhookEvent], Any]] = {
    WebhookEvent.Source.TWILIO_SMS: _sms_inbound,
    WebhookEvent.Source.TWILIO_STATUS: _sms_status,
    WebhookEvent.Source.STRIPE: stripe_event_handle,
    WebhookEvent.Source.TWILIO_VOICE: lambda event: call_status_apply(webhook_event=event),
}


def _failed(event: WebhookEvent, now) -> None:
    event.error = traceback.format_exc()[-ERROR_MAX_CHARS:]
    failures = event.attempts
    if failures <= len(RETRY_BACKOFF):
        event.next_attempt_at = now + RETRY_BACKOFF[failures - 1]
    else:
        event.next_attempt_at = None
        if event.flagged_at is None:
            event.flagged_at = now
            notify(lead=None, kind=Notification.Kind.WEBHOOK_FAILED,
                   text=f"A {event.get_source_display()} webhook ({event.event_type} {event.event_id}) failed "
                        f"{failures} times and is no longer retried. See System > Webhook events to replay it.")
    event.save(update_fields=["attempts", "error", "next_attempt_at", "flagged_at"])


def webhook_event_process(*, event: WebhookEvent, now=None) -> tuple[bool, Any]:
    """Run the event's handler once. (True, result) on success or when it was already processed
    (result None then); (False, None) when it failed or waits, its partial writes rolled back."""
    handler = HANDLERS.get(event.source)
    now = now or timezone.now()
    recheck = None
    with transaction.atomic():
        locked = WebhookEvent.objects.select_for_update().filter(pk=event.pk).first()
        if locked is None or locked.processed_at is not None:
            return True, None
        try:
            if handler is None:
                raise LookupError(f"No handler for {locked.source} events")
            with transaction.atomic():
                result = handler(locked)
        except EventNotReady as exc:
            if now - locked.received_at > WAITING_GIVE_UP:
                locked.processed_at, locked.error = now, f"gave up: {exc}"
                locked.save(update_fields=["processed_at", "error"])
                return True, None
            locked.error, locked.next_attempt_at = str(exc), now + WAITING_RECHECK
            locked.save(update_fields=["error", "next_attempt_at"])
            recheck = exc.recheck
        except Exception:
            logger.exception("Webhook %s %s failed", locked.source, locked.event_id)
            locked.attempts += 1
            _failed(locked, now)
            event.attempts, event.error = locked.attempts, locked.error
            return False, None
        else:
            locked.attempts += 1
            locked.processed_at, locked.error, locked.next_attempt_at = now, "", None
            locked.save(update_fields=["attempts", "error", "processed_at", "next_attempt_at"])
            event.attempts, event.processed_at, event.error = locked.attempts, now, ""
            return True, result
    # It waits for its object. If the object was written while we looked, take it now: one of
    # the two writers always sees the other's commit, so the wait never outlives the object.
    if recheck is not None and recheck():
        return webhook_event_process(event=event)
    return False, None


def webhook_events_retry(*, now=None, limit: int = 200) -> dict:
    """The scheduled retry: events whose next attempt is due, each in its own transaction."""
    now = now or timezone.now()
    due = list(WebhookEvent.objects.filter(processed_at__isnull=True, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "pk")[:limit])
    done = 0
    for event in due:
        done += webhook_event_process(event=event, now=now)[0]
    return {"due": len(due), "processed": done}


def status_callbacks_apply_waiting(*, sids: list[str]) -> int:
    """Apply the status callbacks kept for these SIDs, oldest first; returns how many were applied."""
    waiting = list(WebhookEvent.objects.filter(source=WebhookEvent.Source.TWILIO_STATUS, object_id__in=sids,
                                               processed_at__isnull=True).order_by("received_at", "pk"))
    return sum(webhook_event_process(event=event)[0] for event in waiting)
