"""Taking in a Stripe event, however it came (the signed webhook, or `manage.py stripe_sync`
reading the Events API): check its shape, store it once, process it once.

Types we do not act on are acknowledged and not stored. A new event is stored and processed in
one database transaction (one commit, the row inserted before its handler runs): a concurrent
delivery of the same event waits on the unique (source, event_id) until that commits, then
finds it stored. A failure keeps its error for the scheduled retry (crm.services.webhooks).
When a checkout lands, events that were waiting for its customer are applied right after it.
"""

import re

from django.db import IntegrityError, transaction

from crm.models import WebhookEvent
from crm.services.billing.stripe_events import (
    CUSTOMER_CREATING_TYPES,
    event_customer_id,
    stripe_event_ready,
    stripe_event_wanted,
)
from crm.services.webhooks import webhook_event_process

EVENT_ID = re.compile(r"evt_[A-Za-z0-9_]{1,96}")
OBJECT_ID = re.compile(r"[A-Za-z0-9_]{1,100}")
WAITING_APPLY_LIMIT = 100


class StripeEventInvalid(ValueError):
    """A payload that cannot be a Stripe event (its message says why)."""


class _StoredBefore(Exception):
    """The event's row exists already (a redelivery, or a concurrent one that committed first)."""


def stripe_event_problem(payload) -> str:
    """Why `payload` cannot be a Stripe event we store, or "" when it can."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    if not isinstance(payload.get("id"), str) or not EVENT_ID.fullmatch(payload["id"]):
        return "id is missing or malformed"
    if not isinstance(payload.get("type"), str) or not 0 < len(payload["type"]) <= 100:
        return "type is missing or malformed"
    if not isinstance(payload.get("created"), int) or isinstance(payload["created"], bool) or payload["created"] <= 0:
        return "created is missing or malformed"
    obj = (payload.get("data") or {}).get("object") if isinstance(payload.get("data"), dict) else None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not OBJECT_ID.fullmatch(obj["id"]):
        return "data.object is missing or has no id"
    return ""


def _store_and_process(payload: dict) -> tuple[WebhookEvent, bool]:
    """Insert the event and run its handler in one transaction; raises _StoredBefore (having
    written nothing) when the event was stored before."""
    with transaction.atomic():
        try:
            event = WebhookEvent.objects.create(
                source=WebhookEvent.Source.STRIPE, event_id=payload["id"], event_type=payload["type"],
                payload=payload, object_id=payload["data"]["object"]["id"])
        except IntegrityError as exc:
            raise _StoredBefore from exc
        ok, _ = webhook_event_process(event=event)
    return event, ok


def stripe_event_accept(*, payload: dict) -> WebhookEvent | None:
    """Store (once per event id; concurrent deliveries store one row) and process a Stripe
    event. None when its type is not one we act on. Raises StripeEventInvalid, storing nothing,
    when the payload is not a Stripe event."""
    problem = stripe_event_problem(payload)
    if problem:
        raise StripeEventInvalid(problem)
    if not stripe_event_wanted(payload["type"]):
        return None
    try:
        event, ok = _store_and_process(payload)
    except _StoredBefore:
        event = WebhookEvent.objects.get(source=WebhookEvent.Source.STRIPE, event_id=payload["id"])
        if event.processed_at is not None:
            return event  # a duplicate of one already handled: no second effect
        ok, _ = webhook_event_process(event=event)  # stored but not processed yet: try it now
    else:
        if not ok and not event.attempts and stripe_event_ready(payload):
            # It waited for its customer (no attempt counted), whose checkout committed while
            # this transaction was open, so that checkout could not see this event: take it now.
            ok, _ = webhook_event_process(event=event)
    customer_id = event_customer_id(payload)
    if ok and customer_id and event.event_type in CUSTOMER_CREATING_TYPES:
        stripe_events_apply_waiting(customer_id=customer_id)
    return event


def stripe_events_apply_waiting(*, customer_id: str) -> int:
    """Process the unprocessed events about this customer (oldest first): those that waited for
    its client. Returns how many were processed now."""
    waiting = list(WebhookEvent.objects.filter(source=WebhookEvent.Source.STRIPE, processed_at__isnull=True,
                                               payload__data__object__customer=customer_id)
                   .order_by("received_at", "pk")[:WAITING_APPLY_LIMIT])
    return sum(webhook_event_process(event=event)[0] for event in waiting)
