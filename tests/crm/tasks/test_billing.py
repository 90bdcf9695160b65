"""The scheduled Stripe sync: an hourly django-q2 schedule whose task takes in the events the
webhook never received, and does nothing without Stripe keys."""

import pytest
from django.utils.module_loading import import_string

from crm.models import Client, WebhookEvent
from crm.services.billing import stripe_sync
from crm.services.schedules import SCHEDULES
from fakes.stripe_events import checkout_completed
from tests.crm.services.billing.stripe_helpers import clock, lead  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_the_sync_is_scheduled_hourly_and_its_task_takes_in_a_missed_event(clock, lead, monkeypatch):
    func, minutes = SCHEDULES["stripe-sync"]
    missed = checkout_completed(lead_id=lead.pk, customer="cus_missed", subscription="sub_missed")

    class Stripe:
        def events_list(self, *, starting_after, limit=100):
            return [missed] if starting_after is None else []

    monkeypatch.setattr(stripe_sync, "get_stripe_backend", lambda: Stripe())

    assert minutes == 60
    assert import_string(func)() == {"read": 1, "stored": 1, "processed": 1}
    assert Client.objects.get().stripe_customer_id == "cus_missed"


def test_without_stripe_keys_the_task_does_nothing(settings):
    settings.STRIPE_SECRET_KEY = ""

    assert import_string(SCHEDULES["stripe-sync"][0])() == {"read": 0, "stored": 0, "processed": 0}
    assert not WebhookEvent.objects.exists()
