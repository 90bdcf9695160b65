"""Shared by the claim-link, checkout and billing-portal tests (imported by
tests/crm/services/billing/conftest.py and tests/preview/conftest.py; none is autouse, so a
module opts in with `pytest.mark.usefixtures("checkout_clock", "base_settings")`): one fixed
clock, the offline-Stripe settings (no keys, our public base URL, production's DEBUG off), and
the fake Stripe API those settings point at when a test asks for `fake`."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache

from crm.integrations import stripe_api
from fakes.stripe_server import FakeStripeServer

CHECKOUT_NOW = datetime(2026, 12, 2, 15, 20, tzinfo=UTC)
BASE = "https://crm.example.com"
FAKE_STRIPE_KEY = "sk_test_checkout_123456"


@pytest.fixture
def checkout_clock():
    with time_machine.travel(CHECKOUT_NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def base_settings(settings):
    """No Stripe keys (the embedded default), links on BASE, DEBUG off, a fresh Stripe backend
    and cache (the claim link's rate limit) for each test."""
    settings.PUBLIC_BASE_URL = BASE
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_API_BASE_URL = ""
    settings.DEBUG = False
    stripe_api._stripe_backend.cache_clear()
    cache.clear()
    yield settings
    stripe_api._stripe_backend.cache_clear()


@pytest.fixture
def fake(base_settings):
    """The fake Stripe API, with the settings pointing at it (one attempt per call)."""
    with FakeStripeServer(api_key=FAKE_STRIPE_KEY) as server:
        base_settings.STRIPE_SECRET_KEY = server.api_key
        base_settings.STRIPE_API_BASE_URL = server.base_url
        base_settings.PROVIDER_MAX_ATTEMPTS = 1
        yield server
