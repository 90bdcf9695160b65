"""The commission ledger: accrued once per payment at the rep's rate (else the company's),
clawed back on refunds and early churn without taking back more than was earned, approved and
paid in single UPDATEs."""

from datetime import timedelta
from decimal import Decimal

import pytest

from crm.models import Commission, CompanySettings, RepProfile, Transaction
from crm.services.billing.commissions import (
    commission_accrue,
    commission_clawback_refund,
    commission_rate,
    commission_share,
    commissions_approve,
    commissions_clawback_churn,
    commissions_mark_paid,
)
from tests.crm.services.billing.stripe_helpers import NOW, clock  # noqa: F401 - fixtures
from tests.factories import ClientFactory, CommissionFactory, RepUserFactory, TransactionFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_rate_is_the_reps_own_else_the_company_default():
    CompanySettings.objects.update_or_create(pk=1, defaults={"default_commission_rate": Decimal("0.0750")})
    rep = RepUserFactory()
    RepProfile.objects.filter(user=rep).update(commission_rate=Decimal("0.1250"))
    assert commission_rate(rep) == Decimal("0.1250")
    assert commission_rate(UserFactory()) == Decimal("0.0750")  # no rep profile


def test_shares_round_half_away_from_zero_to_whole_cents():
    assert commission_share(12_345, Decimal("0.1")) == 1_235
    assert commission_share(-12_345, Decimal("0.1")) == -1_235
    assert commission_share(4_990, Decimal("0.0333")) == 166


def test_accrual_is_once_per_payment_and_only_for_successful_payments_of_a_reps_client(clock):
    rep = RepUserFactory()
    client = ClientFactory(rep=rep)
    paid = TransactionFactory(client=client, amount_cents=9_900)
    assert commission_accrue(txn=paid).amount_cents == 990
    assert commission_accrue(txn=paid) is None
    failed = TransactionFactory(client=client, status=Transaction.Status.FAILED)
    refund = TransactionFactory(client=client, kind=Transaction.Kind.REFUND, amount_cents=-500)
    nobodys = TransactionFactory(client=ClientFactory(rep=None))
    assert [commission_accrue(txn=t) for t in (failed, refund, nobodys)] == [None, None, None]
    assert Commission.objects.count() == 1


def test_a_refund_claws_back_at_the_rate_it_was_earned(clock):
    rep = RepUserFactory()
    client = ClientFactory(rep=rep)
    commission_accrue(txn=TransactionFactory(client=client, amount_cents=10_000))
    RepProfile.objects.filter(user=rep).update(commission_rate=Decimal("0.5"))  # a raise since
    refund = TransactionFactory(client=client, kind=Transaction.Kind.REFUND, amount_cents=-4_000)
    line = commission_clawback_refund(refund=refund)
    assert (line.kind, line.amount_cents, line.rate) == (Commission.Kind.REFUND_CLAWBACK, -400, Decimal("0.1"))
    assert commission_clawback_refund(refund=refund) is None


def test_churn_claws_back_what_was_earned_in_the_window_less_refund_clawbacks(clock):
    CompanySettings.objects.update_or_create(pk=1, defaults={"commission_clawback_days": 30})
    rep = RepUserFactory()
    client = ClientFactory(rep=rep)
    old = TransactionFactory(client=client, amount_cents=50_000, occurred_at=NOW - timedelta(days=45))
    recent = [TransactionFactory(client=client, amount_cents=10_000, occurred_at=NOW - timedelta(days=d))
              for d in (20, 5)]
    for txn in (old, *recent):
        commission_accrue(txn=txn)
    refund = TransactionFactory(client=client, kind=Transaction.Kind.REFUND, amount_cents=-5_000,
                                occurred_at=NOW - timedelta(days=4))
    commission_clawback_refund(refund=refund)  # -500

    lines = commissions_clawback_churn(client_id=client.pk, churned_at=NOW)
    assert sorted(line.amount_cents for line in lines) == [-1_000, -500]
    assert commissions_clawback_churn(client_id=client.pk, churned_at=NOW) == []
    assert sum(Commission.objects.filter(transaction__in=recent + [refund]).values_list("amount_cents", flat=True)) == 0
    assert Commission.objects.get(transaction=old).amount_cents == 5_000  # outside the window: kept


def test_approve_then_pay_moves_only_lines_in_the_right_state(clock):
    lines = [CommissionFactory() for _ in range(3)]
    CommissionFactory(status=Commission.Status.VOID)
    queryset = Commission.objects.all()
    assert commissions_mark_paid(commissions=queryset) == 0  # nothing approved yet
    assert commissions_approve(commissions=queryset.filter(pk__in=[c.pk for c in lines[:2]])) == 2
    assert commissions_approve(commissions=queryset) == 1
    assert commissions_mark_paid(commissions=queryset) == 3
    assert set(Commission.objects.values_list("status", flat=True)) == {"paid", "void"}
    assert set(Commission.objects.filter(status="paid").values_list("paid_at", flat=True)) == {NOW}
