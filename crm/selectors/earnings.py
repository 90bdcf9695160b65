"""A rep's own commission ledger by month (the "My earnings" page): always filtered by the rep
asking, never anyone else's."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, Sum

from crm.models import Commission
from crm.selectors.revenue import MONTHS_SHOWN, add_months, month_bucket, months_back

CLAWBACK_KINDS = (Commission.Kind.REFUND_CLAWBACK, Commission.Kind.CHURN_CLAWBACK)
# Sums by status (void lines count nowhere); accrued and clawed back by kind.
EARNINGS_SUMS = {
    "accrued_cents": Q(kind=Commission.Kind.ACCRUAL),
    "clawed_back_cents": Q(kind__in=CLAWBACK_KINDS),
    "pending_cents": Q(status=Commission.Status.PENDING),
    "approved_cents": Q(status=Commission.Status.APPROVED),
    "paid_cents": Q(status=Commission.Status.PAID),
}


@dataclass(frozen=True)
class EarningsMonth:
    month: datetime | None  # None for the all-time totals row
    accrued_cents: int
    clawed_back_cents: int  # negative
    pending_cents: int
    approved_cents: int
    paid_cents: int

    @property
    def net_cents(self) -> int:
        return self.accrued_cents + self.clawed_back_cents


def _sums() -> dict:
    return {name: Sum("amount_cents", filter=condition) for name, condition in EARNINGS_SUMS.items()}


def rep_earnings_by_month(*, rep, now: datetime, months: int = MONTHS_SHOWN) -> list[EarningsMonth]:
    """`rep`'s commission lines (by the date each was written) per month, newest first: one query."""
    starts = months_back(now=now, count=months)
    rows = (Commission.objects.filter(rep=rep, created_at__gte=starts[0], created_at__lt=add_months(starts[-1], 1))
            .exclude(status=Commission.Status.VOID)
            .annotate(month=month_bucket("created_at", starts)).values("month").annotate(**_sums()).order_by())
    by_month = {row["month"]: row for row in rows}
    result = []
    for index, start in reversed(list(enumerate(starts))):
        row = by_month.get(index, {})
        result.append(EarningsMonth(month=start, **{name: row.get(name) or 0 for name in EARNINGS_SUMS}))
    return result


def rep_earnings_totals(*, rep) -> EarningsMonth:
    """`rep`'s all-time totals: one query."""
    sums = Commission.objects.filter(rep=rep).exclude(status=Commission.Status.VOID).aggregate(**_sums())
    return EarningsMonth(month=None, **{name: sums[name] or 0 for name in EARNINGS_SUMS})
