"""manage.py stripe_sync: events the webhook never received are read from the Events API (the
real stripe SDK against fakes/stripe_server.py) and taken in once, as a delivery would be."""

import time
from datetime import UTC, datetime
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from crm.integrations.stripe_api import CheckoutLine, StripeBackend
from crm.models import Client, Transaction, WebhookEvent
from fakes.stripe_server import FakeStripeServer
from tests.factories import LeadFactory, RepUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(datetime(2026, 3, 10, 15, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def fake(settings):
    with FakeStripeServer() as server:  # no webhook_url: nothing is delivered
        settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE_URL = server.api_key, server.base_url
        yield server


def pay(fake: FakeStripeServer, lead) -> None:
    backend = StripeBackend(secret_key=fake.api_key, api_base_url=fake.base_url)
    session = backend.checkout_session_create(
        idempotency_key=f"checkout-{lead.pk}", setup=CheckoutLine("Website setup", 49_900),
        monthly=CheckoutLine("Hosting & care", 9_900), currency="usd", metadata={"lead_id": str(lead.pk)},
        customer_email="", success_url="https://crm.example.com/ok", cancel_url="https://crm.example.com/no",
        expires_at=int(time.time()) + 3600, allow_promotion_codes=False)
    fake.session_complete(session.id)


def sync() -> str:
    out = StringIO()
    call_command("stripe_sync", stdout=out)
    return out.getvalue()


def test_missed_events_are_fetched_and_processed_once(fake):
    first, second = (LeadFactory(assigned_rep=RepUserFactory()) for _ in range(2))
    pay(fake, first)

    assert "2 new one(s) stored, 2 processed" in sync()
    client = Client.objects.get()
    assert client.lead == first
    assert dict(Transaction.objects.values_list("kind", "amount_cents")) == {"setup": 49_900, "subscription": 9_900}

    assert "0 new one(s) stored" in sync()  # nothing missed since
    pay(fake, second)
    assert "2 new one(s) stored, 2 processed" in sync()
    assert Client.objects.count() == 2
    assert Transaction.objects.count() == 4
    assert WebhookEvent.objects.filter(processed_at__isnull=True).count() == 0
    listed = [request.query for request in fake.requests if request.path == "/v1/events"]
    assert listed[-1].get("ending_before")  # the third run read on from a stored event


def test_without_stripe_keys_there_is_nothing_to_read(settings):
    settings.STRIPE_SECRET_KEY = ""
    assert "0 event(s) read" in sync()
