"""Money coming in: a completed checkout (once per session, whoever reports it first), a
payment recorded by hand (checked, commission accrued), a refund reported again and again."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from crm.models import (
    CheckoutSession,
    Client,
    Commission,
    Lead,
    MrrChange,
    Notification,
    Subscription,
    TimelineEvent,
    Transaction,
)
from crm.services.billing.payments import (
    charge_refund_record,
    checkout_complete,
    lead_mark_won,
    payment_record,
)
from tests.crm.services.billing.stripe_helpers import NOW, clock, lead  # noqa: F401 - fixtures
from tests.factories import ClientFactory, LeadFactory

pytestmark = pytest.mark.django_db
MONEY_MODELS = (Client, Subscription, Transaction, Commission, MrrChange, Notification, TimelineEvent)


def complete(lead, **overrides):
    args = {"lead_id": lead.pk, "session_id": "cs_test_1", "customer_id": "cus_1", "subscription_id": "sub_1",
            "setup_amount_cents": 49_900, "monthly_amount_cents": 9_900, "currency": "USD", "occurred_at": NOW,
            "setup_payment_id": "in_1:setup"}
    return checkout_complete(**{**args, **overrides})


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in MONEY_MODELS}


def test_checkout_complete_is_idempotent_per_session(clock, lead):
    CheckoutSession.objects.create(lead=lead, stripe_id="cs_test_1", url="https://pay", idempotency_key="k",
                                   expires_at=NOW + timedelta(hours=24))
    client = complete(lead)
    before = counts()
    assert complete(lead) == client
    assert counts() == before
    assert CheckoutSession.objects.get().status == CheckoutSession.Status.COMPLETE
    assert Lead.objects.get(pk=lead.pk).status == Lead.Status.PAID
    assert Transaction.objects.get().currency == "usd"


def test_checkout_complete_uses_the_client_already_holding_the_customer(clock, lead, rep_user):
    existing = ClientFactory(stripe_customer_id="cus_1", rep=None, lead=None, status=Client.Status.CHURNED)
    assert complete(lead) == existing
    existing.refresh_from_db()
    assert (existing.rep, existing.status) == (rep_user, Client.Status.ACTIVE)
    assert Client.objects.count() == 1


def test_a_second_checkout_of_the_same_lead_adds_a_subscription_to_its_client(clock, lead):
    first = complete(lead)
    second = complete(lead, session_id="cs_test_2", subscription_id="sub_2", setup_payment_id="in_2:setup")
    assert first == second
    assert Subscription.objects.filter(client=first).count() == 2
    assert MrrChange.objects.order_by("id").last().kind == MrrChange.Kind.EXPANSION


def test_a_plan_of_zero_makes_no_subscription(clock, lead):
    complete(lead, monthly_amount_cents=0)
    assert not Subscription.objects.exists() and not MrrChange.objects.exists()
    assert Transaction.objects.get().kind == Transaction.Kind.SETUP


def test_mark_won_uses_the_company_prices_once(clock, lead, rep_user):
    client = lead_mark_won(lead=lead, actor=rep_user)
    assert lead_mark_won(lead=lead, actor=rep_user) == client
    assert Transaction.objects.get().provider_id == f"manual:lead-{lead.pk}:setup"


@pytest.mark.parametrize("changes, field", [
    ({"kind": "gift"}, "kind"),
    ({"amount_cents": 0}, "amount_cents"),
    ({"amount_cents": -100}, "amount_cents"),
    ({"amount_cents": True}, "amount_cents"),
    ({"amount_cents": 99.5}, "amount_cents"),
    ({"occurred_at": NOW + timedelta(days=1)}, "occurred_at"),
])
def test_payment_record_refuses_bad_input_and_writes_nothing(clock, changes, field):
    client = ClientFactory()
    args = {"client_id": client.pk, "amount_cents": 9_900, "kind": "subscription", "occurred_at": NOW, "actor": None}
    with pytest.raises(ValidationError) as error:
        payment_record(**{**args, **changes})
    assert field in error.value.message_dict
    assert not Transaction.objects.exists()


def test_payment_record_for_a_missing_client_is_refused(clock):
    with pytest.raises(ValidationError, match="does not exist"):
        payment_record(client_id=999_999, amount_cents=100, kind="setup", occurred_at=NOW, actor=None)


def test_payment_record_leaves_a_timeline_event_on_the_lead(clock, rep_user):
    lead = LeadFactory(assigned_rep=rep_user)
    client = ClientFactory(lead=lead, rep=rep_user)
    txn = payment_record(client_id=client.pk, amount_cents=19_900, kind="upsell", occurred_at=NOW, actor=rep_user)
    event = TimelineEvent.objects.get(lead=lead)
    assert (event.kind, event.actor, event.data["amount_cents"]) == (TimelineEvent.Kind.PAYMENT, rep_user, 19_900)
    assert Commission.objects.get(transaction=txn).amount_cents == 1_990


def test_a_refund_reported_as_a_growing_total_books_only_what_is_new(clock, rep_user):
    client = ClientFactory(rep=rep_user)
    assert charge_refund_record(client=client, charge_id="ch_1", refunded_total_cents=5_000, currency="usd",
                                occurred_at=NOW).amount_cents == -5_000
    assert charge_refund_record(client=client, charge_id="ch_1", refunded_total_cents=5_000, currency="usd",
                                occurred_at=NOW) is None
    assert charge_refund_record(client=client, charge_id="ch_1", refunded_total_cents=3_000, currency="usd",
                                occurred_at=NOW) is None
    assert charge_refund_record(client=client, charge_id="ch_1", refunded_total_cents=8_000, currency="usd",
                                occurred_at=NOW).amount_cents == -3_000
    assert sum(Transaction.objects.values_list("amount_cents", flat=True)) == -8_000
