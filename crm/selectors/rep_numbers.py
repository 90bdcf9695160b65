"""Per-rep numbers for a period, shown on the queue page (the rep's own; every rep's for admins).

For each rep, over [start, end):
- calls: calls the rep made; connects: those answered (answered_at set) or logged "connected";
- texts: texts the rep sent by hand (sent_by the rep; not canceled or failed);
- replies: texts received from the rep's leads (counted from the leads that texted since `start`,
  Lead.last_reply_at on the lead_rep_replied index, each lead's texts in the period on
  message_lead_in: the rep's repliers, not every text of the period nor every lead of the rep);
- deals: clients the rep closed (Client.rep, created in the period);
- revenue_cents: net of the rep's clients' succeeded transactions in the period (refunds count
  negative), in the company currency;
- speed-to-lead: of the rep's leads that turned hot in the period (hot_at), the median time from
  the alert to the first call or text after it (leads not reached yet are counted apart);
- targets: the rep's own Target rows for the month holding `start`, with the actual value where
  the metric has one here.

Seven queries whatever the number of reps (each grouped by rep).
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

from django.db.models import Count, Min, OuterRef, Q, Subquery, Sum

from crm.models import Call, Client, Lead, Message, Target, Transaction

HOT_LEADS_READ_LIMIT = 5000  # hot leads read per period for the median (the newest)


@dataclass
class TargetProgress:
    metric: str
    label: str
    goal: int
    actual: int | None  # None: not measured here
    money: bool

    @property
    def percent(self) -> int | None:
        if self.actual is None or not self.goal:
            return None
        return max(0, min(100, round(100 * self.actual / self.goal)))


@dataclass
class RepNumbers:
    rep_id: int
    calls: int = 0
    connects: int = 0
    texts: int = 0
    replies: int = 0
    deals: int = 0
    revenue_cents: int = 0
    hot_leads: int = 0
    reached: int = 0
    median_speed_seconds: float | None = None
    targets: list[TargetProgress] = field(default_factory=list)

    @property
    def unreached(self) -> int:
        return self.hot_leads - self.reached


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month holding `now` (in now's zone)."""
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def _grouped(queryset, rep_path: str, **aggregates) -> dict[int, dict]:
    return {row[rep_path]: row for row in queryset.order_by().values(rep_path).annotate(**aggregates)}


def _texts_in(start: datetime, end: datetime) -> Subquery:
    """The lead's texts in over [start, end): one probe of message_lead_in per lead (a lead with
    one has last_reply_at >= start, crm.services.reply_waiting)."""
    return Subquery(Message.objects.filter(lead=OuterRef("pk"), direction=Message.Direction.INBOUND,
                                           created_at__gte=start, created_at__lt=end)
                    .order_by().values("lead").annotate(n=Count("*")).values("n")[:1])


def _speed(rep_ids: list[int], start: datetime, end: datetime) -> dict[int, list[float | None]]:
    """Rep -> seconds from alert to first call or text, per lead that turned hot in the period."""
    first_call = (Call.objects.filter(lead=OuterRef("pk"), created_at__gte=OuterRef("hot_at"))
                  .order_by().values("lead").annotate(t=Min("created_at")).values("t")[:1])
    first_text = (Message.objects.filter(lead=OuterRef("pk"), direction=Message.Direction.OUTBOUND,
                                         created_at__gte=OuterRef("hot_at"))
                  .exclude(status__in=[Message.Status.CANCELED, Message.Status.FAILED])
                  .order_by().values("lead").annotate(t=Min("created_at")).values("t")[:1])
    # A lead that turned hot is HOT, or WARM once it cooled: the lead_rep_prio_status index.
    rows = (Lead.objects.filter(assigned_rep_id__in=rep_ids, priority__in=[Lead.Priority.HOT, Lead.Priority.WARM],
                                hot_at__gte=start, hot_at__lt=end)
            .annotate(first_call=Subquery(first_call), first_text=Subquery(first_text))
            .order_by("-hot_at").values_list("assigned_rep_id", "hot_at", "first_call", "first_text")
            [:HOT_LEADS_READ_LIMIT * max(1, len(rep_ids))])
    out: dict[int, list[float | None]] = {rep_id: [] for rep_id in rep_ids}
    for rep_id, hot_at, first_call_at, first_text_at in rows:
        touches = [t for t in (first_call_at, first_text_at) if t is not None]
        out[rep_id].append((min(touches) - hot_at).total_seconds() if touches else None)
    return out


def _targets(rep_ids: list[int], month: date, numbers: dict[int, RepNumbers]) -> None:
    actual = {
        Target.Metric.REPLIES: lambda n: n.replies, Target.Metric.HOT_LEADS: lambda n: n.hot_leads,
        Target.Metric.NEW_CLIENTS: lambda n: n.deals, Target.Metric.REVENUE: lambda n: n.revenue_cents,
    }
    money = {Target.Metric.REVENUE, Target.Metric.MRR}
    for target in Target.objects.filter(rep_id__in=rep_ids, period=Target.Period.MONTH,
                                        period_start=month).order_by("metric"):
        n = numbers[target.rep_id]
        measure = actual.get(target.metric)
        n.targets.append(TargetProgress(metric=target.metric, label=target.get_metric_display(), goal=target.goal,
                                        actual=measure(n) if measure else None, money=target.metric in money))


def reps_numbers(*, rep_ids: list[int], start: datetime, end: datetime) -> dict[int, RepNumbers]:
    """Rep id -> the rep's numbers over [start, end); targets of the month holding `start`."""
    rep_ids = list(rep_ids)
    numbers = {rep_id: RepNumbers(rep_id=rep_id) for rep_id in rep_ids}
    if not rep_ids:
        return numbers
    period = {"created_at__gte": start, "created_at__lt": end}
    calls = _grouped(Call.objects.filter(rep_id__in=rep_ids, **period), "rep_id", calls=Count("pk"),
                     connects=Count("pk", filter=Q(answered_at__isnull=False) | Q(outcome=Call.Outcome.CONNECTED)))
    texts = _grouped(Message.objects.filter(sent_by_id__in=rep_ids, direction=Message.Direction.OUTBOUND, **period)
                     .exclude(status__in=[Message.Status.CANCELED, Message.Status.FAILED]), "sent_by_id", n=Count("pk"))
    replies = _grouped(Lead.objects.filter(assigned_rep_id__in=rep_ids, last_reply_at__gte=start),
                       "assigned_rep_id", n=Sum(_texts_in(start, end)))
    deals = _grouped(Client.objects.filter(rep_id__in=rep_ids, **period), "rep_id", n=Count("pk"))
    revenue = _grouped(Transaction.objects.filter(client__rep_id__in=rep_ids, status=Transaction.Status.SUCCEEDED,
                                                  occurred_at__gte=start, occurred_at__lt=end),
                       "client__rep_id", cents=Sum("amount_cents"))
    speeds = _speed(rep_ids, start, end)
    for rep_id, n in numbers.items():
        n.calls = calls.get(rep_id, {}).get("calls", 0)
        n.connects = calls.get(rep_id, {}).get("connects", 0)
        n.texts = texts.get(rep_id, {}).get("n", 0)
        n.replies = replies.get(rep_id, {}).get("n") or 0
        n.deals = deals.get(rep_id, {}).get("n", 0)
        n.revenue_cents = revenue.get(rep_id, {}).get("cents") or 0
        reached = [s for s in speeds[rep_id] if s is not None]
        n.hot_leads, n.reached = len(speeds[rep_id]), len(reached)
        n.median_speed_seconds = median(reached) if reached else None
    _targets(rep_ids, start.date(), numbers)
    return numbers
