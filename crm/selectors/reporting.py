"""Reporting for the dashboard: a date range (crm/selectors/date_ranges.py) compared with the
period of equal length before it, optionally for one rep.

Time zone: ranges and day buckets are in the *active* time zone, which the middleware sets to
the viewer's `User.time_zone` (default settings.TIME_ZONE, America/New_York) - the same zone the
admin shows every time in, and the one crm/selectors/revenue.py buckets months in. So "this
month" for a New York admin starts at 00:00 New York time on the 1st (04:00 or 05:00 UTC).

`dashboard_report` counts everything a dashboard shows in two statements in one transaction,
whatever the data size (crm/selectors/activity.py: the watermarks, then one UNION ALL; with
money, the MRR now from crm.selectors.revenue): leads created, texts out and in
and preview views from the pre-counted slots plus the live rows above their watermarks; the
rest live, each part read from an index that holds what it counts (lead_contacted or
lead_rep_contacted, lead_hot_at, lead_rep_prio_status, lead_status_created, message_status_time,
transaction_kind_time, mrr_change_time). Every number comes with the admin list URL whose rows
are exactly the ones counted (`links`), tested to give the same count.

Texts: a text's direction never changes, its status does (queued -> sending -> sent ->
delivered, undelivered or failed; or canceled). So texts out and in per day are pre-counted,
and the statuses are counted live for every outbound status but "delivered" (the one most
texts end in): delivered = out - the others. "Sent" is sent, delivered or undelivered.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlencode

from django.db.models import Case, Count, Max, Sum, Value, When
from django.db.models.functions import Concat
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from crm.models import ActivityCount, Client, Lead, Message, MrrChange, PreviewEvent, Subscription, Target, Transaction
from crm.selectors.activity import Days, activity_parts, counts_in_one_statement, part
from crm.selectors.date_ranges import DateRange, local_midnight
from crm.selectors.revenue import mrr_cents_now

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
# Texts per day: which outbound statuses count as sent, delivered, failed; the ones counted live.
SENT_STATUSES = (Message.Status.SENT, Message.Status.DELIVERED, Message.Status.UNDELIVERED)
FAILED_STATUSES = (Message.Status.FAILED, Message.Status.UNDELIVERED)
NOT_SENT = (Message.Status.QUEUED, Message.Status.SENDING, Message.Status.FAILED, Message.Status.CANCELED)
LIVE_STATUSES = (*NOT_SENT, Message.Status.SENT, Message.Status.UNDELIVERED)  # every outbound one but delivered
REVENUE_KINDS = tuple(Transaction.Kind.values)
Metric = ActivityCount.Metric


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


def _message_rep(rep_id: int | None) -> dict:
    return {"lead__assigned_rep__id__exact": rep_id} if rep_id else {}


def _one_day(day: date) -> DateRange:
    return DateRange(start=local_midnight(day), end=local_midnight(day + timedelta(days=1)), preset="day")




# --- what is counted: parts of the one statement (crm/selectors/activity.py) --------------------

def _both(queryset, field: str, period: DateRange, key, n) -> list:
    """Two parts: `queryset`'s rows with `field` in the period (bucket 0) and in the period
    before (bucket -1), each grouped by `key` alone (a constant bucket keeps PostgreSQL's
    estimate of the groups, and its aggregation, small)."""
    return [part(queryset.filter(**_window(field, period)), key, 0, n),
            part(queryset.filter(**_window(field, period.previous)), key, -1, n)]


def _lead_parts(period: DateRange, rep_id: int | None) -> list:
    leads = Lead.objects.all() if rep_id is None else Lead.objects.filter(assigned_rep_id=rep_id)
    stages = FUNNEL_STAGES[1][2]  # every status a stage past "imported" counts
    return [
        *_both(leads, "last_contacted_at", period, "contacted", Count("*")),
        *_both(leads, "hot_at", period, "turned_hot", Count("*")),
        part(leads.filter(priority=Lead.Priority.HOT).exclude(status__in=CLOSED), "hot_now", 0, Count("*")),
        part(leads.filter(status__in=stages, **_window("created_at", period)), Concat(Value("funnel:"), "status"),
             0, Count("*")),
    ]


def _text_parts(days: Days, rep_id: int | None, by_day: bool) -> list:
    """Outbound statuses other than delivered, live: `by_day`, per day in the period, and the
    ones not sent in the period before; else the ones not sent in each (one scan: a rep's texts
    are found through their leads, and the two periods share that join)."""
    texts = Message.objects.all() if rep_id is None else Message.objects.filter(lead__assigned_rep_id=rep_id)
    status = Concat(Value("text:"), "status")
    if not by_day:
        unsent = texts.filter(days.window("created_at"), status__in=NOT_SENT)
        period = Case(When(created_at__gte=days.split, then=Value(0)), default=Value(-1))
        return [part(unsent, status, period, Count("*"))]
    now = texts.filter(days.window("created_at", days.split), status__in=LIVE_STATUSES)
    before = texts.filter(created_at__gte=days.start, created_at__lt=days.split, status__in=NOT_SENT)
    return [part(now, status, days.of("created_at"), Count("*")), part(before, status, -1, Count("*"))]


def _money_parts(period: DateRange, rep_id: int | None) -> list:
    def mine(queryset, path: str):
        return queryset if rep_id is None else queryset.filter(**{path: rep_id})

    paid = mine(Transaction.objects.filter(status=Transaction.Status.SUCCEEDED), "client__rep_id")
    return [
        *_both(paid, "occurred_at", period, Concat(Value("revenue:"), "kind"), Sum("amount_cents")),
        *_both(mine(Subscription.objects.all(), "client__rep_id"), "canceled_at", period, "subs_canceled",
               Count("*")),
        part(mine(MrrChange.objects.filter(kind=MrrChange.Kind.CHURN, **_window("occurred_at", period)),
                  "client__rep_id"), "mrr_churned", 0, Sum("delta_cents")),
        part(mine(MrrChange.objects.filter(occurred_at__lt=period.start), "client__rep_id"), "mrr_before", 0,
             Sum("delta_cents")),
        *_both(mine(Client.objects.all(), "rep_id"), "created_at", period, "new_clients", Count("*")),
    ]


def _goal_part(month: date, rep_id: int | None):
    """The monthly targets for `month` (its 1st): the rep's own when `rep_id`, else the team's."""
    return part(Target.objects.filter(period=Target.Period.MONTH, period_start=month, rep_id=rep_id),
                Concat(Value("goal:"), "metric"), 0, Max("goal"))


# --- the reports ------------------------------------------------------------------------------

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


@dataclass
class TextReport:
    sent: int
    sent_previous: int
    replies: int
    replies_previous: int
    days: list[dict]  # {"day", "sent", "delivered", "failed", "replies", "urls": {...}}; empty unless by day
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


@dataclass
class MoneyReport:
    revenue_cents: int
    revenue_previous_cents: int
    by_kind: dict[str, int]  # kind -> cents in the range (refunds negative)
    by_kind_previous: dict[str, int]
    mrr_cents: int  # now (crm.selectors.revenue.mrr_cents_now; a rep's: their clients' subscriptions)
    mrr_previous_end_cents: int  # at the end of the previous range, from the MRR ledger
    canceled: int  # subscriptions canceled in the range
    canceled_previous: int
    churned_cents: int  # MRR lost to churn in the range (the ledger's churn movements), negative
    new_clients: int
    new_clients_previous: int
    links: dict[str, str]


@dataclass
class Report:
    leads: LeadReport
    texts: TextReport
    goals: dict[str, int]  # Target.Metric -> goal
    totals: dict  # every (key, bucket) -> n the statement counted (extra parts' rows too)
    views: list[dict] | None = None  # {"day", "views", "url"} per day of the range
    money: MoneyReport | None = None


def dashboard_report(*, period: DateRange, rep_id: int | None = None, link_rep: bool = True,
                     goals_month: date | None = None, texts_by_day: bool = True, views: bool = False,
                     money: bool = False, extra=None) -> Report:
    """Every number of a dashboard over `period` and the period before, for the team or one rep:
    four queries (BEGIN and COMMIT, or a savepoint, around the watermarks and the counts; one more
    with `money`, the MRR now). `link_rep=False` leaves the rep out of
    the links (a rep's own lists are scoped already). `extra(sources, days)`: more parts for the
    same statement, read back from `totals`."""
    days = Days.between(period.previous.start, period.start, period.end)
    metrics = [Metric.LEAD_NEW, Metric.TEXT_OUT, Metric.TEXT_IN] + ([Metric.VIEW] if views else [])

    def build(sources) -> list:
        parts = (activity_parts(sources, days, metrics, rep_id=rep_id) + _lead_parts(period, rep_id)
                 + _text_parts(days, rep_id, texts_by_day))
        parts += _money_parts(period, rep_id) if money else []
        parts += [_goal_part(goals_month, rep_id)] if goals_month else []
        return parts + (extra(sources, days) if extra else [])

    totals = counts_in_one_statement(build)
    link_to = rep_id if link_rep else None
    report = Report(leads=_leads(totals, period, link_to), texts=_texts(totals, period, link_to, texts_by_day),
                    goals={key[5:]: n for (key, _), n in totals.items() if key.startswith("goal:")}, totals=totals)
    if views:
        report.views = _views(totals, period, rep_id)
    if money:
        report.money = _money(totals, period, rep_id)
    return report


def _split(totals: dict, key: str) -> tuple[int, int]:
    """(the period's, the period before's) sum of `key`: buckets >= 0 and < 0."""
    now = sum(n for (k, bucket), n in totals.items() if k == key and bucket >= 0)
    return now, sum(n for (k, bucket), n in totals.items() if k == key and bucket < 0)


def _leads(totals: dict, period: DateRange, rep_id: int | None) -> LeadReport:
    new, new_previous = _split(totals, Metric.LEAD_NEW)
    rep = _lead_rep(rep_id)
    funnel = []
    for key, label, statuses in FUNNEL_STAGES:
        count = new if statuses is None else sum(totals.get((f"funnel:{s}", 0), 0) for s in statuses)
        funnel.append({"key": key, "label": label, "count": count,
                       "url": admin_list_url("lead", **_window("created_at", period), status__in=statuses, **rep)})
    links = {
        "new": admin_list_url("lead", **_window("created_at", period), **rep),
        "contacted": admin_list_url("lead", **_window("last_contacted_at", period), **rep),
        "turned_hot": admin_list_url("lead", **_window("hot_at", period), **rep),
        "hot_now": admin_list_url("lead", priority__exact=Lead.Priority.HOT, **rep,
                                  status__in=[s for s in Lead.Status.values if s not in CLOSED]),
    }
    contacted, turned_hot = _split(totals, "contacted"), _split(totals, "turned_hot")
    return LeadReport(new=new, new_previous=new_previous, contacted=contacted[0], contacted_previous=contacted[1],
                      turned_hot=turned_hot[0], turned_hot_previous=turned_hot[1],
                      hot_now=totals.get(("hot_now", 0), 0), funnel=funnel, links=links)


def _texts(totals: dict, period: DateRange, rep_id: int | None, by_day: bool) -> TextReport:
    rep = _message_rep(rep_id)

    def urls(window: DateRange) -> dict:
        span = _window("created_at", window)
        out = Message.Direction.OUTBOUND
        return {"sent": admin_list_url("message", direction__exact=out, status__in=SENT_STATUSES, **span, **rep),
                "delivered": admin_list_url("message", direction__exact=out, status__exact=Message.Status.DELIVERED,
                                            **span, **rep),
                "failed": admin_list_url("message", direction__exact=out, status__in=FAILED_STATUSES, **span, **rep),
                "replies": admin_list_url("message", direction__exact=Message.Direction.INBOUND, **span, **rep)}

    def counts(bucket: int) -> dict:
        status = {s: totals.get((f"text:{s}", bucket), 0) for s in LIVE_STATUSES}
        out = totals.get((Metric.TEXT_OUT, bucket), 0)
        return {"sent": out - sum(status[s] for s in NOT_SENT), "delivered": out - sum(status.values()),
                "failed": status[Message.Status.FAILED] + status[Message.Status.UNDELIVERED],
                "replies": totals.get((Metric.TEXT_IN, bucket), 0)}

    days = [{"day": day, **counts(index), "urls": urls(_one_day(day))}
            for index, day in enumerate(period.day_starts())] if by_day else []
    out, out_previous = _split(totals, Metric.TEXT_OUT)
    not_sent, not_sent_previous = (sum(_split(totals, f"text:{s}")[i] for s in NOT_SENT) for i in (0, 1))
    replies, replies_previous = _split(totals, Metric.TEXT_IN)
    return TextReport(sent=out - not_sent, sent_previous=out_previous - not_sent_previous, replies=replies,
                      replies_previous=replies_previous, days=days, links=urls(period))


def _views(totals: dict, period: DateRange, rep_id: int | None) -> list[dict]:
    return [{"day": day, "views": totals.get((Metric.VIEW, index), 0),
             "url": admin_list_url("previewevent", kind__exact=PreviewEvent.Kind.VIEW,
                                   **_window("created_at", _one_day(day)), **_message_rep(rep_id))}
            for index, day in enumerate(period.day_starts())]


def _money(totals: dict, period: DateRange, rep_id: int | None) -> MoneyReport:
    by_kind = {kind: totals.get((f"revenue:{kind}", 0), 0) for kind in REVENUE_KINDS}
    by_kind_previous = {kind: totals.get((f"revenue:{kind}", -1), 0) for kind in REVENUE_KINDS}
    rep = {"client__rep__id__exact": rep_id} if rep_id else {}
    succeeded = {"status__exact": Transaction.Status.SUCCEEDED}
    live = [s for s in Subscription.Status.values if s != Subscription.Status.CANCELED]
    links = {"revenue": admin_list_url("transaction", **succeeded, **_window("occurred_at", period), **rep),
             "mrr": admin_list_url("subscription", status__in=live, **rep),
             "churn": admin_list_url("subscription", **_window("canceled_at", period), **rep),
             "new_clients": admin_list_url("client", **_window("created_at", period),
                                           **({"rep__id__exact": rep_id} if rep_id else {}))}
    for kind in REVENUE_KINDS:
        links[f"kind_{kind}"] = admin_list_url("transaction", kind__exact=kind, **succeeded,
                                               **_window("occurred_at", period), **rep)
    canceled, new_clients = _split(totals, "subs_canceled"), _split(totals, "new_clients")
    return MoneyReport(
        revenue_cents=sum(by_kind.values()), revenue_previous_cents=sum(by_kind_previous.values()),
        by_kind=by_kind, by_kind_previous=by_kind_previous, mrr_cents=_mrr_now(rep_id),
        mrr_previous_end_cents=totals.get(("mrr_before", 0), 0), canceled=canceled[0], canceled_previous=canceled[1],
        churned_cents=totals.get(("mrr_churned", 0), 0), new_clients=new_clients[0],
        new_clients_previous=new_clients[1], links=links,
    )


def _mrr_now(rep_id: int | None) -> int:
    """The team's from crm.selectors.revenue (the one home of MRR); one rep's: their clients'
    live subscriptions, each by Subscription.mrr_cents (the rule that function sums in SQL)."""
    if rep_id is None:
        return mrr_cents_now()
    mine = Subscription.objects.filter(client__rep_id=rep_id).exclude(status=Subscription.Status.CANCELED)
    return sum(s.mrr_cents for s in mine.only("amount_cents", "quantity", "interval", "status"))
