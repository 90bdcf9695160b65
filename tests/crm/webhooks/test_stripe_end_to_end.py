"""A lead pays on the fake Stripe's hosted page: the fake posts its signed events to our live
server as Stripe would, and the client, subscription, payments, MRR and commission follow."""

import time
from datetime import UTC, datetime

import pytest
import time_machine

from crm.integrations.stripe_api import CheckoutLine, StripeBackend
from crm.models import Client, Commission, Lead, MrrChange, Subscription, Transaction, WebhookEvent
from fakes.stripe_server import FakeStripeServer
from tests.factories import LeadFactory, RepUserFactory


@pytest.mark.django_db(transaction=True)
@time_machine.travel(datetime(2026, 3, 10, 15, 0, tzinfo=UTC), tick=True)
def test_a_payment_on_the_fake_stripe_lands_once_through_the_webhook(live_server, settings):
    lead = LeadFactory(assigned_rep=RepUserFactory(username="closer"))
    with FakeStripeServer(webhook_url=live_server.url + "/webhooks/stripe/") as fake:
        settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
        backend = StripeBackend(secret_key=fake.api_key, api_base_url=fake.base_url)
        session = backend.checkout_session_create(
            idempotency_key=f"checkout-{lead.pk}", setup=CheckoutLine("Website setup", 49_900),
            monthly=CheckoutLine("Hosting & care", 9_900), currency="usd", metadata={"lead_id": str(lead.pk)},
            customer_email="", success_url="https://crm.example.com/ok", cancel_url="https://crm.example.com/no",
            expires_at=int(time.time()) + 3600, allow_promotion_codes=False)
        events = fake.session_complete(session.id)

    assert [(kind, status) for _, kind, status in fake.deliveries] == [
        ("checkout.session.completed", 200), ("invoice.paid", 200)]
    client = Client.objects.get()
    assert client.lead == lead and client.stripe_customer_id == events[0]["data"]["object"]["customer"]
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.PAID
    assert Subscription.objects.get().stripe_subscription_id == events[0]["data"]["object"]["subscription"]
    assert dict(Transaction.objects.values_list("kind", "amount_cents")) == {"setup": 49_900, "subscription": 9_900}
    assert sorted(Commission.objects.values_list("amount_cents", flat=True)) == [990, 4_990]
    assert MrrChange.objects.get().delta_cents == 9_900
    assert WebhookEvent.objects.filter(processed_at__isnull=False).count() == 2
