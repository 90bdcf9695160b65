"""The demo's money (crm/demo/billing.py), loaded by manage.py seed_demo through the billing
services as Stripe's webhooks would: every MRR movement ChartMogul names, a cancellation
scheduled, a comeback after churning, and movements that add up to the MRR now."""

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from crm.models import Client, MrrChange, Subscription, WebhookEvent
from crm.selectors.revenue import mrr_cents_now

pytestmark = pytest.mark.django_db
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture(params=[datetime(2026, 7, 15, 14, 0, tzinfo=NEW_YORK), datetime(2026, 12, 2, 3, 0, tzinfo=NEW_YORK)],
                ids=["afternoon", "small_hours"])
def seeded(request):
    with time_machine.travel(request.param, tick=True):
        call_command("seed_demo", stdout=StringIO())
        yield request.param


def test_every_mrr_movement_kind_is_there_and_they_add_up_to_the_mrr_now(seeded):
    kinds = set(MrrChange.objects.values_list("kind", flat=True))

    assert kinds == set(MrrChange.Kind.values)
    assert sum(MrrChange.objects.values_list("delta_cents", flat=True)) == mrr_cents_now() > 0
    assert not WebhookEvent.objects.filter(source=WebhookEvent.Source.STRIPE, processed_at__isnull=True).exists()


def test_the_movements_come_from_plan_changes_a_churn_and_a_comeback(seeded):
    expansion = MrrChange.objects.get(kind=MrrChange.Kind.EXPANSION)
    assert expansion.subscription.quantity == 2  # a second site
    contraction = MrrChange.objects.get(kind=MrrChange.Kind.CONTRACTION)
    assert (contraction.delta_cents, contraction.subscription.amount_cents) == (-5_000, 9_900)

    back = MrrChange.objects.get(kind=MrrChange.Kind.REACTIVATION)
    client = back.client
    assert client.status == Client.Status.ACTIVE
    assert sorted(client.subscriptions.values_list("status", flat=True)) == [
        Subscription.Status.ACTIVE, Subscription.Status.CANCELED]
    churn = MrrChange.objects.get(kind=MrrChange.Kind.CHURN)
    assert churn.client == client and churn.occurred_at < back.occurred_at


def test_one_cancellation_is_scheduled_and_puts_its_client_at_risk(seeded):
    scheduled = Subscription.objects.get(cancel_at_period_end=True)

    assert scheduled.status == Subscription.Status.ACTIVE
    assert scheduled.current_period_end > seeded
    assert scheduled.client.churn_risk
    assert scheduled.client.churn_risk_reason.startswith("Cancellation scheduled")
