"""Money in the admin: "Record payment" on a client and "Mark won" on a lead run the same
services as Stripe's webhooks; commissions are approved and paid in bulk, one UPDATE for any
number of rows; all of it for admins only, while a rep sees only their own commissions."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from crm.models import Client, Commission, Lead, MrrChange, Subscription, Transaction
from tests.factories import (
    ClientFactory,
    CommissionFactory,
    LeadFactory,
    SubscriptionFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def action(client, model: str, name: str, pks, **extra):
    return client.post(reverse(f"admin:crm_{model}_changelist"),
                       {"action": name, "_selected_action": [str(pk) for pk in pks], **extra})


def test_record_payment_asks_then_books_the_payment_and_its_commission(admin_client, rep_user):
    client = ClientFactory(rep=rep_user)
    SubscriptionFactory(client=client)

    page = action(admin_client, "client", "record_payment", [client.pk])
    assert page.status_code == 200 and b"Record payment" in page.content

    done = action(admin_client, "client", "record_payment", [client.pk], apply="1", amount="99.00",
                  kind="subscription", occurred_at_0="2026-03-09", occurred_at_1="10:00", note="Paid by cheque")
    assert done.status_code == 302
    txn = Transaction.objects.get()
    assert (txn.client, txn.kind, txn.amount_cents, txn.description) == (client, "subscription", 9_900, "Paid by cheque")
    assert txn.subscription == client.subscriptions.get()
    assert Commission.objects.get(transaction=txn).amount_cents == 990


def test_record_payment_refuses_bad_amounts_and_writes_nothing(admin_client):
    client = ClientFactory()
    for amount in ("-5", "0", "12.345", "lots"):
        page = action(admin_client, "client", "record_payment", [client.pk], apply="1", amount=amount,
                      kind="setup", occurred_at_0="2026-03-09", occurred_at_1="10:00")
        assert page.status_code == 200 and b"amount" in page.content.lower()
    page = action(admin_client, "client", "record_payment", [client.pk], apply="1", amount="10",
                  kind="setup", occurred_at_0="2027-01-01", occurred_at_1="10:00")
    assert b"future" in page.content
    assert not Transaction.objects.exists()


def test_a_refund_recorded_by_hand_is_negative_and_claws_back(admin_client, rep_user):
    client = ClientFactory(rep=rep_user)
    action(admin_client, "client", "record_payment", [client.pk], apply="1", amount="499", kind="setup",
           occurred_at_0="2026-03-01", occurred_at_1="10:00")
    action(admin_client, "client", "record_payment", [client.pk], apply="1", amount="100", kind="refund",
           occurred_at_0="2026-03-02", occurred_at_1="10:00")
    assert sorted(Transaction.objects.values_list("amount_cents", flat=True)) == [-10_000, 49_900]
    assert sorted(Commission.objects.values_list("kind", "amount_cents")) == [
        ("accrual", 4_990), ("refund_clawback", -1_000)]


def test_mark_won_makes_client_subscription_and_setup_through_checkout_once(admin_client, rep_user):
    lead = LeadFactory(assigned_rep=rep_user, business_name="Manual Mike's")
    action(admin_client, "lead", "mark_won", [lead.pk])
    action(admin_client, "lead", "mark_won", [lead.pk])  # already paid: nothing more

    lead.refresh_from_db()
    assert lead.status == Lead.Status.PAID
    client = Client.objects.get()
    assert (client.lead, client.rep, client.stripe_customer_id) == (lead, rep_user, None)
    sub = Subscription.objects.get()
    assert (sub.amount_cents, sub.stripe_subscription_id) == (9_900, None)
    setup = Transaction.objects.get()
    assert (setup.kind, setup.amount_cents, setup.provider_id) == ("setup", 49_900, f"manual:lead-{lead.pk}:setup")
    assert Commission.objects.get().amount_cents == 4_990
    assert MrrChange.objects.get().source == f"checkout:manual:lead-{lead.pk}"


def test_approve_and_mark_paid_move_a_thousand_lines_in_one_update(admin_client, django_assert_max_num_queries,
                                                                   rep_user):
    txn = TransactionFactory(client=ClientFactory(rep=rep_user))
    Commission.objects.bulk_create([Commission(rep=rep_user, transaction=TransactionFactory(client=txn.client),
                                               amount_cents=100) for _ in range(1_000)])
    url = reverse("admin:crm_commission_changelist")
    with django_assert_max_num_queries(20):
        response = admin_client.post(url, {"action": "approve", "select_across": "1", "index": "0",
                                           "_selected_action": ["x"]})
    assert response.status_code == 302
    assert Commission.objects.filter(status=Commission.Status.APPROVED, approved_at=NOW).count() == 1_000

    one = Commission.objects.first()
    Commission.objects.filter(pk=one.pk).update(status=Commission.Status.PENDING)
    admin_client.post(url, {"action": "mark_paid", "select_across": "1", "index": "0", "_selected_action": ["x"]})
    assert Commission.objects.filter(status=Commission.Status.PAID, paid_at=NOW).count() == 999
    assert Commission.objects.get(pk=one.pk).status == Commission.Status.PENDING  # approve before paying


def test_reps_see_only_their_commissions_and_cannot_approve_pay_record_or_mark_won(rep_client, rep_user, other_rep):
    mine = CommissionFactory(rep=rep_user)
    theirs = CommissionFactory(rep=other_rep)
    page = rep_client.get(reverse("admin:crm_commission_changelist"))
    assert page.status_code == 200
    shown = [row.pk for row in page.context["cl"].result_list]
    assert shown == [mine.pk]
    assert b'value="approve"' not in page.content and b'value="mark_paid"' not in page.content

    for name in ("approve", "mark_paid"):
        action(rep_client, "commission", name, [mine.pk, theirs.pk])
    assert set(Commission.objects.values_list("status", flat=True)) == {Commission.Status.PENDING}

    lead = LeadFactory(assigned_rep=rep_user)
    page = rep_client.get(reverse("admin:crm_lead_changelist"))
    assert b'value="mark_won"' not in page.content
    action(rep_client, "lead", "mark_won", [lead.pk])
    assert not Client.objects.filter(lead=lead).exists()
    assert rep_client.get(reverse("admin:crm_client_changelist")).status_code == 403
