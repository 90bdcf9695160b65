"""A subscription never moves backwards: older states are skipped, a canceled one stays
canceled, and a client churns only when their last live subscription ends."""

from datetime import timedelta

import pytest

from crm.models import Client, MrrChange, Subscription
from crm.services.billing.subscriptions import SubscriptionState, subscription_cancel, subscription_state_apply
from tests.crm.services.billing.stripe_helpers import NOW, clock  # noqa: F401 - fixtures
from tests.factories import ClientFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def state(**changes) -> SubscriptionState:
    values = {"amount_cents": 9_900, "quantity": 1, "interval": "month", "price_id": "price_1", "plan_name": "",
              "status": Subscription.Status.ACTIVE, "cancel_at_period_end": False, "current_period_end": None}
    return SubscriptionState(**{**values, **changes})


def test_an_older_state_is_skipped_and_a_newer_one_applied(clock):
    sub = SubscriptionFactory(stripe_state_at=200)
    assert not subscription_state_apply(subscription=sub, state=state(quantity=5), source="evt_old", state_at=100,
                                        occurred_at=NOW)
    assert subscription_state_apply(subscription=sub, state=state(quantity=2, interval="year", amount_cents=120_000),
                                    source="evt_new", state_at=300, occurred_at=NOW)
    sub.refresh_from_db()
    assert (sub.quantity, sub.interval, sub.stripe_state_at, sub.mrr_cents) == (2, "year", 300, 20_000)
    assert MrrChange.objects.get(source="evt_new").mrr_after_cents == 20_000


def test_a_canceled_state_cancels_and_nothing_reopens_it(clock):
    sub = SubscriptionFactory()
    subscription_state_apply(subscription=sub, state=state(status=Subscription.Status.CANCELED), source="evt_1",
                             state_at=100, occurred_at=NOW)
    assert not subscription_state_apply(subscription=sub, state=state(), source="evt_2", state_at=999,
                                        occurred_at=NOW)
    sub.refresh_from_db()
    assert (sub.status, sub.canceled_at) == (Subscription.Status.CANCELED, NOW)


def test_the_client_churns_only_when_the_last_live_subscription_ends(clock):
    client = ClientFactory()
    first, second = SubscriptionFactory(client=client), SubscriptionFactory(client=client)
    assert subscription_cancel(subscription=first, canceled_at=NOW, source="evt_a")
    assert Client.objects.get(pk=client.pk).status == Client.Status.ACTIVE
    assert subscription_cancel(subscription=second, canceled_at=NOW + timedelta(days=1), source="evt_b")
    assert not subscription_cancel(subscription=second, canceled_at=NOW + timedelta(days=2), source="evt_c")
    assert Client.objects.get(pk=client.pk).status == Client.Status.CHURNED
