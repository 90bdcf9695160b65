"""Turning an upsell candidate into a proposed Upsell: once, only for a candidate, noted on the
lead's timeline; a refusal says why and writes nothing."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine

from crm.models import MrrChange, Subscription, TimelineEvent, Upsell
from crm.services.billing.upsells import UpsellRefused, upsell_propose
from tests.factories import ClientFactory, LeadFactory, MessageFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
NOW = datetime(2026, 4, 20, 16, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def client_on(amount: int, *, days: int = 200, rep=None, plan: str = "Hosting & care", **sub_fields):
    lead = LeadFactory(assigned_rep=rep)
    client = ClientFactory(lead=lead, rep=rep)
    sub = SubscriptionFactory(client=client, amount_cents=amount, plan_name=plan,
                              started_at=NOW - timedelta(days=days), **sub_fields)
    MrrChange.objects.create(client=client, subscription=sub, kind="new", delta_cents=amount, mrr_after_cents=amount,
                             occurred_at=sub.started_at, source=f"start:{sub.pk}")
    MessageFactory(lead=lead)
    return client


def test_a_candidate_gets_a_proposed_upgrade(rep_user, admin_user):
    client_on(14_900, plan="Hosting & care plus")
    client = client_on(9_900, rep=rep_user)

    upsell = upsell_propose(client_id=client.pk, proposed_by=admin_user, now=NOW)

    assert upsell.client == client
    assert upsell.product == "Upgrade to Hosting & care plus ($149.00/month)"
    assert (upsell.amount_cents, upsell.recurring, upsell.status) == (5_000, True, Upsell.Status.PROPOSED)
    assert upsell.rep == rep_user  # the client's rep owns it
    note = TimelineEvent.objects.get(lead=client.lead, kind=TimelineEvent.Kind.NOTE)
    assert note.actor == admin_user
    assert note.data["upsell_id"] == upsell.pk


def test_twice_makes_one_upsell(admin_user):
    client_on(14_900)
    client = client_on(9_900)
    upsell_propose(client_id=client.pk, proposed_by=admin_user, now=NOW)

    with pytest.raises(UpsellRefused) as refused:
        upsell_propose(client_id=client.pk, proposed_by=admin_user, now=NOW)

    assert refused.value.code == "not_candidate"
    assert Upsell.objects.count() == 1


def test_without_a_rep_the_proposer_owns_it(admin_user):
    client_on(14_900)
    client = client_on(9_900)

    assert upsell_propose(client_id=client.pk, proposed_by=admin_user, now=NOW).rep == admin_user


@pytest.mark.parametrize(("amount", "days", "status", "why"), [
    (14_900, 200, Subscription.Status.ACTIVE, "already on the top plan"),
    (9_900, 30, Subscription.Status.ACTIVE, "too new"),
    (9_900, 200, Subscription.Status.PAST_DUE, "not healthy"),
    (9_900, 200, Subscription.Status.CANCELED, "no live subscription"),
])
def test_not_a_candidate_is_refused_and_nothing_written(admin_user, amount, days, status, why):
    client_on(14_900)
    client = client_on(amount, days=days, status=status)

    with pytest.raises(UpsellRefused) as refused:
        upsell_propose(client_id=client.pk, proposed_by=admin_user, now=NOW)

    assert refused.value.code == "not_candidate", why
    assert "is not an upsell candidate" in str(refused.value)
    assert not Upsell.objects.exists()
    assert not TimelineEvent.objects.filter(kind=TimelineEvent.Kind.NOTE).exists()


def test_an_unknown_client_is_refused(admin_user):
    with pytest.raises(UpsellRefused) as refused:
        upsell_propose(client_id=987_654, proposed_by=admin_user, now=NOW)

    assert refused.value.code == "no_client"
