"""Shared by the billing and Stripe webhook tests (imported as fixtures): a fixed clock, the
webhook secret, a lead with a rep, and a poster of signed Stripe events to /webhooks/stripe/."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client

from fakes.stripe_events import signed
from tests.factories import LeadFactory

WEBHOOK_SECRET = "whsec_test_billing_0123456789"
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
WEBHOOK_PATH = "/webhooks/stripe/"


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def stripe_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


@pytest.fixture
def lead(rep_user):
    return LeadFactory(assigned_rep=rep_user, business_name="Rosa's Bakery", email="rosa@example.com")


@pytest.fixture
def post_event(clock, stripe_secret):
    web = Client()

    def post(payload: dict, *, timestamp: int | None = None):
        body, headers = signed(payload, secret=stripe_secret, timestamp=timestamp)
        return web.post(WEBHOOK_PATH, data=body, content_type="application/json",
                        HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"])

    return post
