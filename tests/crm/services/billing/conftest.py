"""The checkout and billing-portal tests' shared set-up (tests/stripe_fixtures.py)."""

from tests.stripe_fixtures import base_settings, checkout_clock, fake  # noqa: F401 - fixtures
