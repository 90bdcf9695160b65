"""Reporting for the dashboard: a date range (a preset or custom days) compared with the period of
equal length before it, optionally for one rep.

Time zone: ranges and day buckets are in the *active* time zone, which the middleware sets to
the viewer's `User.time_zone` (default settings.TIME_ZONE, America/New_York) - the same zone the
admin shows every time in, and the one crm/selectors/revenue.py buckets months in. So "this
month" for a New York admin starts at 00:00 New York time on the 1st (04:00 or 05:00 UTC).

Every function runs a fixed number of queries whatever the data size, each bounded by an index
on the time column it filters (lead_created / lead_contacted / lead_hot_at, message_created,
preview_view_time, transaction_kind_time, mrr_change_time). Every number comes with the admin
list URL whose rows are exactly the ones counted (`links`), tested to give the same count.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Trunc
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from crm.models import Client, Lead, Message, MrrChange, PreviewEvent, Subscription, Target, Transaction
from crm.models.billing import monthly_cents

PRESETS = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
}
DEFAULT_PRESET = "this_month"
MAX_RANGE_DAYS = 366
# The funnel of leads created in the range: each stage counts the leads whose status is at or
# past it (a lost lead drops out after "imported": its furthest stage is not recorded).
FUNNEL_STAGES = (
    ("imported", "Imported", None),
    ("contacted", "Contacted", (Lead.Status.CONTACTED, Lead.Status.ENGAGED, Lead.Status.REPLIED,
                                Lead.Status.NEGOTIATING, Lead.Status.PAID)),
    ("engaged", "Engaged", (Lead.Status.ENGAGED, Lead.Status.REPLIED, Lead.Status.NEGOTIATING, Lead.Status.PAID)),
    ("replied", "Replied", (Lead.Status.REPLIED, Lead.Status.NEGOTIATING, Lead.Status.PAID)),
    ("paid", "Paid", (Lead.Status.PAID,)),
)
CLOSED = (Lead.Status.PAID, Lead.Status.LOST)
# Texts per day: which outbound statuses count as sent, delivered, failed.
SENT_STATUSES = (Message.Status.SENT, Message.Status.DELIVERED, Message.Status.UNDELIVERED)
FAILED_STATUSES = (Message.Status.FAILED, Message.Status.UNDELIVERED)
REVENUE_KINDS = tuple(Transaction.Kind.values)


@dataclass(frozen=True)
class DateRange:
    start: datetime  # aware, local midnight, inclusive
    end: datetime  # aware, local midnight, exclusive
    preset: str  # a PRESETS key, or "custom"
    error: str = ""  # why the asked-for range was replaced by the default

    @property
    def days(self) -> int:
        return (self.end.date() - self.start.date()).days

    @property
    def previous(self) -> "DateRange":
        return DateRange(start=_local_midnight(self.start.date() - timedelta(days=self.days)),
                         end=self.start, preset="previous")

    @property
    def label(self) -> str:
        last = self.end.date() - timedelta(days=1)
        return f"{self.start:%b %-d, %Y} - {last:%b %-d, %Y}"

    def day_starts(self) -> list[date]:
        return [self.start.date() + timedelta(days=i) for i in range(self.days)]


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day), timezone.get_current_timezone())


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def date_range_from_params(params, *, now: datetime) -> DateRange:
    """The range a dashboard URL asks for: ?range=<preset> or ?start=YYYY-MM-DD&end=YYYY-MM-DD
    (both days included). Anything unreadable gives the default with the reason in `error`."""
    today = timezone.localtime(now).date()
    tomorrow = today + timedelta(days=1)
    start_text, end_text = params.get("start", "").strip(), params.get("end", "").strip()
    if start_text or end_text:
        try:
            first, last = date.fromisoformat(start_text), date.fromisoformat(end_text)
        except ValueError:
            return _preset(DEFAULT_PRESET, today, "Dates must be given as YYYY-MM-DD, both start and end.")
        if first > last:
            return _preset(DEFAULT_PRESET, today, "The start date must be on or before the end date.")
        if (last - first).days >= MAX_RANGE_DAYS:
            return _preset(DEFAULT_PRESET, today, f"A range can be at most {MAX_RANGE_DAYS} days.")
        return DateRange(start=_local_midnight(first), end=_local_midnight(last + timedelta(days=1)), preset="custom")
    preset = params.get("range", DEFAULT_PRESET)
    if preset not in PRESETS:
        return _preset(DEFAULT_PRESET, today, f"Unknown range {preset!r}.")
    if preset == "today":
        return DateRange(start=_local_midnight(today), end=_local_midnight(tomorrow), preset=preset)
    return _preset(preset, today, "")


def _preset(preset: str, today: date, error: str) -> DateRange:
    tomorrow = _local_midnight(today + timedelta(days=1))
    if preset in ("7d", "30d", "90d"):
        days = int(preset[:-1])
        return DateRange(start=_local_midnight(today - timedelta(days=days - 1)), end=tomorrow, preset=preset, error=error)
    if preset == "last_month":
        return DateRange(start=_local_midnight(_month_start(today, 1)), end=_local_midnight(_month_start(today)),
                         preset=preset, error=error)
    return DateRange(start=_local_midnight(_month_start(today)), end=tomorrow, preset=preset, error=error)


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.UTC).isoformat()


@lru_cache(maxsize=64)
def _changelist(model: str, prefix: str, urlconf) -> str:
    return reverse(f"admin:crm_{model}_changelist", urlconf=urlconf)


def admin_list_url(model: str, **lookups) -> str:
    """The admin changelist of crm.<model> filtered by `lookups` (datetimes sent as UTC ISO). The
    list's path is looked up once per URLconf and prefix: a page links a few hundred days."""
    params = {key: _utc(value) if isinstance(value, datetime) else
              (",".join(value) if isinstance(value, (tuple, list)) else value)
              for key, value in lookups.items() if value is not None}
    return f"{_changelist(model, get_script_prefix(), get_urlconf())}?{urlencode(params)}"


def _window(field: str, period: DateRange) -> dict:
    return {f"{field}__gte": period.start, f"{field}__lt": period.end}


def _lead_rep(rep_id: int | None) -> dict:
    return {"assigned_rep__id__exact": rep_id} if rep_id else {}


def _between(field: str, period: DateRange) -> Q:
    return Q(**_window(field, period))


@dataclass
class LeadReport:
    new: int
    new_previous: int
    contacted: int
    contacted_previous: int
    turned_hot: int
    turned_hot_previous: int
    hot_now: int
    funnel: list[dict] = field(default_factory=list)  # {"key", "label", "count", "url"}
    links: dict[str, str] = field(default_factory=dict)


def lead_report(*, period: DateRange, rep_id: int | None = None, link_rep: bool = True) -> LeadReport:
    """New, contacted and turned-hot leads in the range and the one before, the leads hot now,
    and the funnel of the leads created in the range. One query: the WHERE is an OR of the
    three time windows and the hot rows, each an index, so it reads only the rows it counts.
    `link_rep=False` leaves the rep out of the links (a rep's own lists are scoped already)."""
    before = period.previous
    both = DateRange(start=before.start, end=period.end, preset="both")
    hot_now = Q(priority=Lead.Priority.HOT) & ~Q(status__in=CLOSED)
    leads = Lead.objects.filter(_between("created_at", both) | _between("last_contacted_at", both)
                                | _between("hot_at", both) | hot_now)
    if rep_id:
        leads = leads.filter(assigned_rep_id=rep_id)
    created_now = _between("created_at", period)
    sums = leads.aggregate(
        new=Count("pk", filter=created_now), new_previous=Count("pk", filter=_between("created_at", before)),
        contacted=Count("pk", filter=_between("last_contacted_at", period)),
        contacted_previous=Count("pk", filter=_between("last_contacted_at", before)),
        turned_hot=Count("pk", filter=_between("hot_at", period)),
        turned_hot_previous=Count("pk", filter=_between("hot_at", before)),
        hot_now=Count("pk", filter=hot_now),
        **{f"stage_{key}": Count("pk", filter=created_now & Q(status__in=statuses))
           for key, _, statuses in FUNNEL_STAGES if statuses},
    )
    rep = _lead_rep(rep_id if link_rep else None)
    funnel = []
    for key, label, statuses in FUNNEL_STAGES:
        count = sums["new"] if statuses is None else sums[f"stage_{key}"]
        funnel.append({"key": key, "label": label, "count": count,
                       "url": admin_list_url("lead", **_window("created_at", period), status__in=statuses, **rep)})
    links = {
        "new": admin_list_url("lead", **_window("created_at", period), **rep),
        "contacted": admin_list_url("lead", **_window("last_contacted_at", period), **rep),
        "turned_hot": admin_list_url("lead", **_window("hot_at", period), **rep),
        "hot_now": admin_list_url("lead", priority__exact=Lead.Priority.HOT, **rep,
                                  status__in=[s for s in Lead.Status.values if s not in CLOSED]),
    }
    return LeadReport(funnel=funnel, links=links, **{k: v for k, v in sums.items() if not k.startswith("stage_")})


def _message_rep(rep_id: int | None) -> dict:
    return {"lead__assigned_rep__id__exact": rep_id} if rep_id else {}


@dataclass
class TextReport:
    sent: int
    sent_previous: int
    replies: int
    replies_previous: int
    days: list[dict]  # {"day", "sent", "delivered", "failed", "replies", "urls": {...}}
    links: dict[str, str]

    @property
    def delivered(self) -> int:
        return sum(d["delivered"] for d in self.days)

    @property
    def failed(self) -> int:
        return sum(d["failed"] for d in self.days)

    @staticmethod
    def rate(replies: int, sent: int) -> float | None:
        return replies / sent if sent else None


def text_report(*, period: DateRange, rep_id: int | None = None, link_rep: bool = True) -> TextReport:
    """Texts per local day of the range and the one before (sent, delivered, failed, replies):
    one query grouped by day, direction and status (the message_created index)."""
    before = period.previous
    tz = timezone.get_current_timezone()
    messages = Message.objects.filter(created_at__gte=before.start, created_at__lt=period.end)
    if rep_id:
        messages = messages.filter(lead__assigned_rep_id=rep_id)
    rows = (messages.annotate(day=Trunc("created_at", "day", tzinfo=tz)).values("day", "direction", "status")
            .annotate(n=Count("pk")).order_by())
    per_day: dict[date, dict] = {}
    for row in rows:
        day = timezone.localtime(row["day"], tz).date() if isinstance(row["day"], datetime) else row["day"]
        counts = per_day.setdefault(day, {"sent": 0, "delivered": 0, "failed": 0, "replies": 0})
        if row["direction"] == Message.Direction.INBOUND:
            counts["replies"] += row["n"]
            continue
        if row["status"] in SENT_STATUSES:
            counts["sent"] += row["n"]
        if row["status"] == Message.Status.DELIVERED:
            counts["delivered"] += row["n"]
        if row["status"] in FAILED_STATUSES:
            counts["failed"] += row["n"]
    rep = _message_rep(rep_id if link_rep else None)

    def urls(window: DateRange) -> dict:
        span = _window("created_at", window)
        out = Message.Direction.OUTBOUND
        return {"sent": admin_list_url("message", direction__exact=out, status__in=SENT_STATUSES, **span, **rep),
                "delivered": admin_list_url("message", direction__exact=out, status__exact=Message.Status.DELIVERED,
                                            **span, **rep),
                "failed": admin_list_url("message", direction__exact=out, status__in=FAILED_STATUSES, **span, **rep),
                "replies": admin_list_url("message", direction__exact=Message.Direction.INBOUND, **span, **rep)}

    days = []
    for day in period.day_starts():
        counts = per_day.get(day, {"sent": 0, "delivered": 0, "failed": 0, "replies": 0})
        one_day = DateRange(start=_local_midnight(day), end=_local_midnight(day + timedelta(days=1)), preset="day")
        days.append({"day": day, **counts, "urls": urls(one_day)})
    earlier = [counts for day, counts in per_day.items() if day < period.start.date()]
    return TextReport(
        sent=sum(d["sent"] for d in days), sent_previous=sum(c["sent"] for c in earlier),
        replies=sum(d["replies"] for d in days), replies_previous=sum(c["replies"] for c in earlier),
        days=days, links=urls(period),
    )


def preview_views_by_day(*, period: DateRange, rep_id: int | None = None) -> list[dict]:
    """Preview page views per local day of the range: one query (the preview_view_time index)."""
    tz = timezone.get_current_timezone()
    views = PreviewEvent.objects.filter(kind=PreviewEvent.Kind.VIEW, **_window("created_at", period))
    if rep_id:
        views = views.filter(lead__assigned_rep_id=rep_id)
    rows = views.annotate(day=Trunc("created_at", "day", tzinfo=tz)).values("day").annotate(n=Count("pk")).order_by()
    per_day = {(timezone.localtime(r["day"], tz).date() if isinstance(r["day"], datetime) else r["day"]): r["n"]
               for r in rows}
    result = []
    for day in period.day_starts():
        one_day = DateRange(start=_local_midnight(day), end=_local_midnight(day + timedelta(days=1)), preset="day")
        result.append({"day": day, "views": per_day.get(day, 0),
                       "url": admin_list_url("previewevent", kind__exact=PreviewEvent.Kind.VIEW,
                                             **_window("created_at", one_day), **_message_rep(rep_id))})
    return result


@dataclass
class MoneyReport:
    revenue_cents: int
    revenue_previous_cents: int
    by_kind: dict[str, int]  # kind -> cents in the range (refunds negative)
    by_kind_previous: dict[str, int]
    mrr_cents: int  # now
    mrr_end_cents: int  # at the end of the range, from the MRR ledger
    mrr_previous_end_cents: int  # at the end of the previous range
    canceled: int  # subscriptions canceled in the range
    canceled_previous: int
    churned_cents: int  # MRR lost to churn in the range (the ledger's churn movements), negative
    new_clients: int
    new_clients_previous: int
    links: dict[str, str]


def money_report(*, period: DateRange, rep_id: int | None = None) -> MoneyReport:
    """Revenue by kind (succeeded transactions), MRR now and at both range ends, churn, new
    clients: four queries (transactions by kind and window; the MRR ledger; live or recently
    canceled subscriptions by interval; clients created in either window)."""
    before = period.previous
    transactions = Transaction.objects.filter(status=Transaction.Status.SUCCEEDED,
                                              occurred_at__gte=before.start, occurred_at__lt=period.end)
    changes = MrrChange.objects.all()
    subscriptions = Subscription.objects.filter(live_or_canceled_since(before.start))
    if rep_id:
        transactions = transactions.filter(client__rep_id=rep_id)
        changes = changes.filter(client__rep_id=rep_id)
        subscriptions = subscriptions.filter(client__rep_id=rep_id)
    sums = transactions.values("kind").annotate(
        now=Sum("amount_cents", filter=_between("occurred_at", period)),
        before=Sum("amount_cents", filter=_between("occurred_at", before)),
    ).order_by()
    by_kind = {kind: 0 for kind in REVENUE_KINDS}
    by_kind_previous = dict(by_kind)
    for row in sums:
        by_kind[row["kind"]] = row["now"] or 0
        by_kind_previous[row["kind"]] = row["before"] or 0
    churn = Q(kind=MrrChange.Kind.CHURN)
    ledger = changes.aggregate(
        at_end=Sum("delta_cents", filter=Q(occurred_at__lt=period.end)),
        at_previous_end=Sum("delta_cents", filter=Q(occurred_at__lt=before.end)),
        churned_cents=Sum("delta_cents", filter=churn & _between("occurred_at", period)),
    )
    live = ~Q(status=Subscription.Status.CANCELED)
    per_interval = list(subscriptions.values("interval").annotate(
        total=Sum(F("amount_cents") * F("quantity"), filter=live),
        canceled=Count("pk", filter=_between("canceled_at", period)),
        canceled_previous=Count("pk", filter=_between("canceled_at", before)),
    ).order_by())
    mrr = sum(monthly_cents(row["total"] or 0, row["interval"]) for row in per_interval)
    clients = Client.objects.filter(created_at__gte=before.start, created_at__lt=period.end)
    if rep_id:
        clients = clients.filter(rep_id=rep_id)
    won = clients.aggregate(now=Count("pk", filter=_between("created_at", period)),
                            before=Count("pk", filter=_between("created_at", before)))
    rep = {"client__rep__id__exact": rep_id} if rep_id else {}
    succeeded = {"status__exact": Transaction.Status.SUCCEEDED}
    links = {"revenue": admin_list_url("transaction", **succeeded, **_window("occurred_at", period), **rep),
             "mrr": admin_list_url("subscription", status__in=[s for s in Subscription.Status.values
                                                               if s != Subscription.Status.CANCELED], **rep),
             "churn": admin_list_url("subscription", **_window("canceled_at", period), **rep),
             "new_clients": admin_list_url("client", **_window("created_at", period),
                                           **({"rep__id__exact": rep_id} if rep_id else {}))}
    for kind in REVENUE_KINDS:
        links[f"kind_{kind}"] = admin_list_url("transaction", kind__exact=kind, **succeeded,
                                               **_window("occurred_at", period), **rep)
    return MoneyReport(
        revenue_cents=sum(by_kind.values()), revenue_previous_cents=sum(by_kind_previous.values()),
        by_kind=by_kind, by_kind_previous=by_kind_previous, mrr_cents=mrr,
        mrr_end_cents=ledger["at_end"] or 0, mrr_previous_end_cents=ledger["at_previous_end"] or 0,
        canceled=sum(row["canceled"] for row in per_interval),
        canceled_previous=sum(row["canceled_previous"] for row in per_interval),
        churned_cents=ledger["churned_cents"] or 0, new_clients=won["now"], new_clients_previous=won["before"],
        links=links,
    )


def live_or_canceled_since(moment: datetime) -> Q:
    return ~Q(status=Subscription.Status.CANCELED) | Q(canceled_at__gte=moment)


def month_goals(*, month: date, rep_id: int | None) -> dict[str, int]:
    """The monthly targets for `month` (its 1st): the rep's own when `rep_id`, else the team's."""
    return dict(Target.objects.filter(period=Target.Period.MONTH, period_start=month, rep_id=rep_id)
                .values_list("metric", "goal"))
