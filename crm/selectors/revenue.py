"""Revenue numbers for the admin's Revenue page: MRR and ARR now, revenue by type per month, MRR
movements per month (ChartMogul's kinds, from MrrChange rows) and a 6-month projection.

Every function aggregates in SQL with a fixed number of queries, whatever the number of clients
or transactions. Months are calendar months in the viewer's time zone (the active one), oldest
first, the current (partial) month last. Money is integer cents.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, F, Func, IntegerField, Q, Sum, Value, When
from django.db.models.lookups import GreaterThan
from django.utils import timezone

from crm.models import Client, CompanySettings, Lead, MrrChange, Subscription, Transaction
from crm.models.billing import monthly_cents

MONTHS_SHOWN = 12
PROJECTION_MONTHS = 6
# Historical conversion: leads first imported in the last N months that we contacted, and how
# many of them paid.
CONVERSION_LOOKBACK_MONTHS = 6
# Churn rate: churned MRR / MRR at the start of the month, averaged over the last N full months.
CHURN_LOOKBACK_MONTHS = 3
# The open pipeline: leads we are talking to, not yet won or lost.
OPEN_PIPELINE_STATUSES = (Lead.Status.CONTACTED, Lead.Status.ENGAGED, Lead.Status.REPLIED, Lead.Status.NEGOTIATING)
REVENUE_KINDS = (Transaction.Kind.SETUP, Transaction.Kind.SUBSCRIPTION, Transaction.Kind.UPSELL,
                 Transaction.Kind.REFUND)
MOVEMENT_KINDS = tuple(MrrChange.Kind.values)


def month_floor(moment: datetime) -> datetime:
    """Midnight on the 1st of `moment`'s month, in the active time zone."""
    local = timezone.localtime(moment)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(month: datetime, count: int) -> datetime:
    """The 1st of the month `count` months after (or before, negative) `month`'s 1st."""
    index = month.year * 12 + month.month - 1 + count
    naive = datetime(index // 12, index % 12 + 1, 1)
    return timezone.make_aware(naive, timezone.get_current_timezone())


def months_back(*, now: datetime, count: int) -> list[datetime]:
    """The 1st of the last `count` months, oldest first, the month of `now` last."""
    current = month_floor(now)
    return [add_months(current, offset) for offset in range(1 - count, 1)]


class MonthBucket(Func):
    """The index in `starts` (month starts, oldest first) of the month `field` falls in, for rows
    already filtered to [starts[0], the month after the last): plain comparisons with the
    boundaries as instants (no time-zone arithmetic per row). PostgreSQL finds the month with
    width_bucket, a binary search over the boundaries; other databases walk a CASE."""

    output_field = IntegerField()

    def __init__(self, field: str, starts: list[datetime]):
        self.starts = starts
        super().__init__(F(field))

    def as_sql(self, compiler, connection, **extra_context):
        field = self.get_source_expressions()[0]
        whens = [When(GreaterThan(Value(start), field), then=Value(index - 1))
                 for index, start in enumerate(self.starts) if index]
        case = Case(*whens, default=Value(len(self.starts) - 1), output_field=IntegerField())
        return compiler.compile(case.resolve_expression(compiler.query))

    def as_postgresql(self, compiler, connection, **extra_context):
        field_sql, field_params = compiler.compile(self.get_source_expressions()[0])
        if len(self.starts) < 2:
            return "0", []
        return f"width_bucket({field_sql}, %s::timestamptz[])", [*field_params, list(self.starts[1:])]


def month_bucket(field: str, starts: list[datetime]) -> MonthBucket:
    """The month index of `field` among `starts` (see MonthBucket)."""
    return MonthBucket(field, starts)


def mrr_cents_now() -> int:
    """MRR now, the one home of that number: every subscription that is not canceled (past due
    still counts until Stripe cancels it), amount x quantity per month, each as
    `Subscription.mrr_cents` says (so it equals the sum of the clients' MRR movements). Counted
    in SQL per price (interval, amount, quantity): one query, a row per distinct price."""
    rows = (Subscription.objects.exclude(status=Subscription.Status.CANCELED)
            .values_list("interval", "amount_cents", "quantity").annotate(n=Count("pk")).order_by())
    return sum(monthly_cents(amount * quantity, interval) * n for interval, amount, quantity, n in rows)


@dataclass(frozen=True)
class RevenueMonth:
    month: datetime
    setup_cents: int
    subscription_cents: int
    upsell_cents: int
    refund_cents: int  # negative (refunds are stored negative)

    @property
    def net_cents(self) -> int:
        return self.setup_cents + self.subscription_cents + self.upsell_cents + self.refund_cents


def revenue_by_month(*, now: datetime, months: int = MONTHS_SHOWN) -> list[RevenueMonth]:
    """Succeeded transactions per month and kind (one query); refunds negative, net = the sum."""
    starts = months_back(now=now, count=months)
    rows = (Transaction.objects
            .filter(status=Transaction.Status.SUCCEEDED, occurred_at__gte=starts[0],
                    occurred_at__lt=add_months(starts[-1], 1))
            .annotate(month=month_bucket("occurred_at", starts)).values("month", "kind")
            .annotate(total=Sum("amount_cents")).order_by())
    totals = {(row["month"], row["kind"]): row["total"] for row in rows}
    return [RevenueMonth(month=start, **{f"{kind}_cents": totals.get((index, kind), 0) for kind in REVENUE_KINDS})
            for index, start in enumerate(starts)]


@dataclass(frozen=True)
class MovementMonth:
    month: datetime
    new_cents: int
    expansion_cents: int
    contraction_cents: int  # negative
    churn_cents: int  # negative
    reactivation_cents: int
    mrr_end_cents: int  # MRR at the end of the month (now, for the current month)

    @property
    def net_cents(self) -> int:
        return (self.new_cents + self.expansion_cents + self.contraction_cents + self.churn_cents
                + self.reactivation_cents)


def mrr_movements_by_month(*, now: datetime, months: int = MONTHS_SHOWN) -> list[MovementMonth]:
    """MRR movements per month and kind from MrrChange rows, and the MRR each month ends on (the
    running sum of every change since the first): two queries."""
    starts = months_back(now=now, count=months)
    opening = MrrChange.objects.filter(occurred_at__lt=starts[0]).aggregate(total=Sum("delta_cents"))["total"] or 0
    rows = (MrrChange.objects.filter(occurred_at__gte=starts[0], occurred_at__lt=add_months(starts[-1], 1))
            .annotate(month=month_bucket("occurred_at", starts)).values("month", "kind")
            .annotate(total=Sum("delta_cents")).order_by())
    totals = {(row["month"], row["kind"]): row["total"] for row in rows}
    result, running = [], opening
    for index, start in enumerate(starts):
        moved = {f"{kind}_cents": totals.get((index, kind), 0) for kind in MOVEMENT_KINDS}
        running += sum(moved.values())
        result.append(MovementMonth(month=start, mrr_end_cents=running, **moved))
    return result


@dataclass(frozen=True)
class ProjectionInputs:
    """What the projection starts from, each shown on the page with its definition."""

    mrr_cents: int  # MRR now (mrr_cents_now)
    open_leads: int  # leads in OPEN_PIPELINE_STATUSES
    setup_fee_cents: int  # what one won lead pays once (company settings)
    monthly_plan_cents: int  # what one won lead adds to MRR (company settings)
    cohort_contacted: int  # leads created in the last CONVERSION_LOOKBACK_MONTHS, contacted
    cohort_won: int  # ... of which paid
    churn_rate: float  # churned MRR / starting MRR, averaged over CHURN_LOOKBACK_MONTHS full months
    churn_months: int  # how many of those months had a starting MRR to divide by

    @property
    def pipeline_value_cents(self) -> int:
        return self.open_leads * (self.setup_fee_cents + self.monthly_plan_cents)

    @property
    def conversion_rate(self) -> float:
        return min(1.0, self.cohort_won / self.cohort_contacted) if self.cohort_contacted else 0.0

    @property
    def wins_per_month(self) -> float:
        """Expected new clients a month: the open pipeline x conversion, spread over the horizon."""
        return self.open_leads * self.conversion_rate / PROJECTION_MONTHS


@dataclass(frozen=True)
class ProjectedMonth:
    month: datetime
    new_clients: float
    churned_cents: int
    mrr_cents: int
    revenue_cents: int  # that month's MRR + the setup fees of its new clients


def projection_inputs(*, now: datetime) -> ProjectionInputs:
    """Four queries: the open leads, the cohort, the churn months, the MRR now (+ the settings row)."""
    company = CompanySettings.load()
    cohort_since = add_months(month_floor(now), -CONVERSION_LOOKBACK_MONTHS)
    # Two narrow counts (the status index, the created_at index), not one pass over every lead.
    open_leads = Lead.objects.filter(status__in=OPEN_PIPELINE_STATUSES).count()
    cohort = (Lead.objects.filter(created_at__gte=cohort_since).exclude(status=Lead.Status.NEW)
              .aggregate(cohort_contacted=Count("pk"), cohort_won=Count("pk", filter=Q(status=Lead.Status.PAID))))
    rate, counted = churn_rate(now=now)
    return ProjectionInputs(
        mrr_cents=mrr_cents_now(), open_leads=open_leads, setup_fee_cents=company.setup_fee_cents,
        monthly_plan_cents=company.monthly_plan_cents, churn_rate=rate, churn_months=counted, **cohort,
    )


def churn_rate(*, now: datetime, months: int = CHURN_LOOKBACK_MONTHS) -> tuple[float, int]:
    """(average monthly churn rate, months averaged) over the last `months` full months: for each,
    churned MRR (the churn movements, positive) / MRR at its start (the sum of every change
    before it); months that start at 0 MRR are left out. One query."""
    current = month_floor(now)
    starts = [add_months(current, offset) for offset in range(-months, 0)]
    churn = Q(kind=MrrChange.Kind.CHURN)
    sums = MrrChange.objects.aggregate(**{
        name: Sum("delta_cents", filter=condition) for i, start in enumerate(starts) for name, condition in (
            (f"start_{i}", Q(occurred_at__lt=start)),
            (f"churn_{i}", churn & Q(occurred_at__gte=start, occurred_at__lt=add_months(start, 1))),
        )
    })
    rates = [-(sums[f"churn_{i}"] or 0) / sums[f"start_{i}"] for i in range(months) if (sums[f"start_{i}"] or 0) > 0]
    return (sum(rates) / len(rates) if rates else 0.0), len(rates)


def projection(inputs: ProjectionInputs, *, now: datetime) -> list[ProjectedMonth]:
    """The next PROJECTION_MONTHS months. Each month: MRR = last month's x (1 - churn rate) +
    expected new clients x the monthly plan; revenue = that MRR + their setup fees."""
    result, mrr = [], inputs.mrr_cents
    wins = inputs.wins_per_month
    for offset in range(1, PROJECTION_MONTHS + 1):
        churned = round(mrr * inputs.churn_rate)
        mrr = mrr - churned + round(wins * inputs.monthly_plan_cents)
        result.append(ProjectedMonth(
            month=add_months(month_floor(now), offset), new_clients=wins, churned_cents=churned, mrr_cents=mrr,
            revenue_cents=mrr + round(wins * inputs.setup_fee_cents),
        ))
    return result


def active_client_count() -> int:
    return Client.objects.filter(status=Client.Status.ACTIVE).count()
