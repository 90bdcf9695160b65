"""Reading missed events: from an hour before the newest stored one, forward page by page; a
starting event Stripe no longer has falls back to the newest page."""

import pytest

from crm.integrations.errors import ProviderResponseError
from crm.models import Client, WebhookEvent
from crm.services.billing import stripe_sync
from fakes.stripe_events import checkout_completed, invoice_event
from tests.crm.services.billing.stripe_helpers import NOW, clock, lead  # noqa: F401 - fixtures
from tests.factories import WebhookEventFactory

pytestmark = pytest.mark.django_db
T0 = int(NOW.timestamp())


class Backend:
    """Stripe's Events API as crm.integrations.stripe_api's backends answer it: events after
    `starting_after`, oldest first; an unknown id is an error, as at Stripe."""

    def __init__(self, events: list[dict]):
        self.events, self.calls = events, []

    def events_list(self, *, starting_after, limit=100):
        self.calls.append(starting_after)
        ids = [event["id"] for event in self.events]
        if starting_after is None:
            return self.events[-limit:]
        if starting_after not in ids:
            raise ProviderResponseError("stripe: events list failed: HTTP 404 resource_missing")
        return self.events[ids.index(starting_after) + 1:][:limit]


def stored(event_id: str, created: int) -> None:
    WebhookEventFactory(event_id=event_id, payload={"id": event_id, "created": created}, processed_at=NOW)


def test_reads_on_from_an_hour_before_the_newest_stored_event(clock, lead, monkeypatch):
    stored("evt_old", T0 - 7200)
    stored("evt_hour_ago", T0 - 3700)
    stored("evt_newest", T0)
    missed = checkout_completed(lead_id=lead.pk, customer="cus_s", subscription="sub_s", created=T0 - 60)
    events = [{"id": "evt_old", "type": "invoice.paid", "created": T0 - 7200, "data": {"object": {"id": "in_x"}}},
              {"id": "evt_hour_ago", "type": "x", "created": T0 - 3700, "data": {"object": {"id": "x"}}},
              missed, {"id": "evt_newest", "type": "x", "created": T0, "data": {"object": {"id": "x"}}}]
    backend = Backend(events)
    monkeypatch.setattr(stripe_sync, "get_stripe_backend", lambda: backend)

    assert stripe_sync.stripe_events_sync() == {"read": 2, "stored": 1, "processed": 1}
    assert backend.calls == ["evt_hour_ago", "evt_newest"]
    assert Client.objects.get().lead == lead


def test_a_starting_event_stripe_no_longer_has_falls_back_to_the_newest_page(clock, monkeypatch):
    stored("evt_demo_only", T0)
    paid = invoice_event("invoice.paid", customer="cus_unknown", subscription="sub_u", amount=100, created=T0)
    backend = Backend([paid])
    monkeypatch.setattr(stripe_sync, "get_stripe_backend", lambda: backend)

    assert stripe_sync.stripe_events_sync() == {"read": 1, "stored": 1, "processed": 0}  # waits for its client
    assert backend.calls == ["evt_demo_only", None, paid["id"]]
    assert WebhookEvent.objects.filter(event_id=paid["id"], processed_at__isnull=True).exists()
