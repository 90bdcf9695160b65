"""The commission ledger: a line accrued on each payment of a client a rep closed, a negative
line clawed back on a refund or an early churn, and the admins' pending -> approved -> paid.

Lines are only ever appended (a clawback never edits the accrual it offsets), at most one per
(rep, transaction, kind), so a payment or refund processed twice accrues once.
"""

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import QuerySet
from django.utils import timezone

from crm.models import Commission, CompanySettings, RepProfile, Transaction

PAYMENT_KINDS = (Transaction.Kind.SETUP, Transaction.Kind.SUBSCRIPTION, Transaction.Kind.UPSELL)


def commission_rate(rep) -> Decimal:
    """The rep's own rate (RepProfile), else the company's default."""
    rate = RepProfile.objects.filter(user=rep).values_list("commission_rate", flat=True).first()
    return rate if rate is not None else CompanySettings.load().default_commission_rate


def commission_share(amount_cents: int, rate: Decimal) -> int:
    """`rate` of `amount_cents`, rounded half away from zero to whole cents."""
    return int((Decimal(amount_cents) * rate).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _line_create(*, rep, txn: Transaction, kind: str, rate: Decimal, amount_cents: int,
                 new: bool = False) -> Commission | None:
    """The line, unless it was written already (the payment was seen before; `new`: the
    transaction was written just now, so it has no lines to look for). Callers hold the event or
    client lock, so a concurrent writer of the same line is an IntegrityError that fails (and
    retries) the whole event rather than a second line."""
    if amount_cents == 0 or (not new and Commission.objects.filter(rep=rep, transaction=txn, kind=kind).exists()):
        return None
    return Commission.objects.create(rep=rep, transaction=txn, kind=kind, rate=rate, amount_cents=amount_cents,
                                     currency=txn.currency)


def commission_accrue(*, txn: Transaction, new: bool = False) -> Commission | None:
    """Accrue the client's rep their share of a successful payment, once per transaction (`new`:
    `txn` was written just now). None when the client has no rep, the payment is not a positive
    one, or it accrued already."""
    rep = txn.client.rep
    if (rep is None or txn.kind not in PAYMENT_KINDS or txn.amount_cents <= 0
            or txn.status != Transaction.Status.SUCCEEDED):
        return None
    rate = commission_rate(rep)
    return _line_create(rep=rep, txn=txn, kind=Commission.Kind.ACCRUAL, rate=rate,
                        amount_cents=commission_share(txn.amount_cents, rate), new=new)


def commission_clawback_refund(*, refund: Transaction, new: bool = False) -> Commission | None:
    """Take back the rep's share of a refund (a negative transaction), at the rate of the
    client's last accrual (else the rep's rate now), once per refund (`new`: written just now)."""
    rep = refund.client.rep
    if rep is None or refund.amount_cents >= 0:
        return None
    rate = (Commission.objects.filter(rep=rep, kind=Commission.Kind.ACCRUAL, transaction__client=refund.client_id)
            .order_by("-transaction__occurred_at", "-id").values_list("rate", flat=True).first())
    rate = commission_rate(rep) if rate is None else rate
    return _line_create(rep=rep, txn=refund, kind=Commission.Kind.REFUND_CLAWBACK, rate=rate,
                        amount_cents=commission_share(refund.amount_cents, rate), new=new)


def commissions_clawback_churn(*, client_id: int, churned_at: datetime) -> list[Commission]:
    """A client who churns within CompanySettings.commission_clawback_days of a payment takes
    back what the rep earned on it, less what refunds on that window already took back. One
    line per payment, written once however often the churn is reported (two queries and one
    INSERT for all the lines)."""
    since = churned_at - timedelta(days=CompanySettings.load().commission_clawback_days)
    window = list(Commission.objects.filter(transaction__client_id=client_id, transaction__occurred_at__gte=since,
                                            transaction__occurred_at__lte=churned_at)
                  .select_related("transaction").order_by("transaction__occurred_at", "id"))
    taken = -sum(line.amount_cents for line in window if line.kind == Commission.Kind.REFUND_CLAWBACK)
    clawed = {(line.rep_id, line.transaction_id) for line in window if line.kind == Commission.Kind.CHURN_CLAWBACK}
    lines = []
    for accrual in (line for line in window if line.kind == Commission.Kind.ACCRUAL):
        offset = min(taken, accrual.amount_cents)
        taken -= offset
        amount = -(accrual.amount_cents - offset)
        if amount and (accrual.rep_id, accrual.transaction_id) not in clawed:
            lines.append(Commission(rep_id=accrual.rep_id, transaction=accrual.transaction,
                                    kind=Commission.Kind.CHURN_CLAWBACK, rate=accrual.rate, amount_cents=amount,
                                    currency=accrual.transaction.currency))
    return Commission.objects.bulk_create(lines)


def commissions_approve(*, commissions: QuerySet, now=None) -> int:
    """Approve the pending lines among `commissions` in one UPDATE; returns how many moved."""
    return commissions.filter(status=Commission.Status.PENDING).update(
        status=Commission.Status.APPROVED, approved_at=now or timezone.now())


def commissions_mark_paid(*, commissions: QuerySet, now=None) -> int:
    """Mark the approved lines among `commissions` paid in one UPDATE; returns how many moved.
    Pending lines stay pending: a line is approved before it is paid."""
    return commissions.filter(status=Commission.Status.APPROVED).update(
        status=Commission.Status.PAID, paid_at=now or timezone.now())
