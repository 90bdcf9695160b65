"""Catching up with Stripe: events that were never delivered (our endpoint down, a network
fault) are read from the Events API and taken in exactly as the webhook would have."""

import json

from crm.integrations.errors import ProviderResponseError
from crm.integrations.stripe_api import get_stripe_backend
from crm.models import WebhookEvent
from crm.services.billing.stripe_intake import stripe_event_accept

PAGE_SIZE = 100
# Deliveries come in any order: read on from an event stored this long before the newest one.
OVERLAP_SECONDS = 3600


def _starting_point() -> str | None:
    """The id of a stored Stripe event an hour older than the newest stored (or the oldest
    stored, when all are that recent); None when none is stored."""
    stored = WebhookEvent.objects.filter(source=WebhookEvent.Source.STRIPE)
    newest = stored.order_by("-payload__created", "-pk").values_list("payload__created", flat=True).first()
    if newest is None:
        return None
    before = (stored.filter(payload__created__lte=int(newest) - OVERLAP_SECONDS)
              .order_by("-payload__created", "-pk").values_list("event_id", flat=True).first())
    return before or stored.order_by("payload__created", "pk").values_list("event_id", flat=True).first()


def stripe_events_sync(*, max_pages: int = 50) -> dict[str, int]:
    """Read Stripe's events after the starting point (the newest page on a first run), oldest
    first, page after page, and take in the ones we act on that are not stored yet. Returns
    counts: read, stored now, processed now."""
    backend = get_stripe_backend()
    cursor = _starting_point()
    try:
        page = backend.events_list(starting_after=cursor, limit=PAGE_SIZE)
    except ProviderResponseError:
        if cursor is None:
            raise
        page = backend.events_list(starting_after=None, limit=PAGE_SIZE)  # Stripe no longer has that event
    read = stored = processed = 0
    for _ in range(max_pages):
        if not page:
            break
        read += len(page)
        known = set(WebhookEvent.objects.filter(source=WebhookEvent.Source.STRIPE,
                                                event_id__in=[event.get("id") for event in page])
                    .values_list("event_id", flat=True))
        for payload in page:
            if payload.get("id") in known:
                continue
            # As the webhook body would have had it: the SDK reads decimal strings as Decimal.
            event = stripe_event_accept(payload=json.loads(json.dumps(payload, default=str)))
            if event is not None:
                stored += 1
                processed += event.processed_at is not None
        page = backend.events_list(starting_after=page[-1]["id"], limit=PAGE_SIZE)
    return {"read": read, "stored": stored, "processed": processed}
