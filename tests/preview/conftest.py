"""The claim-link tests' set-up, shared with the checkout tests (tests/stripe_fixtures.py)."""

from tests.stripe_fixtures import base_settings, checkout_clock, fake  # noqa: F401 - fixtures
