"""The dashboard's cards and lists: KPI cards built from crm/selectors/reporting.py, the "call
these first" list, unread notifications and the per-rep table. Reps get their own; admins get the company's."""

from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from crm.models import ActivityCount, Client, Lead, Notification, User
from crm.models.base import format_cents
from crm.selectors.access import scope_queryset
from crm.selectors.activity import Days, Sources, activity_parts, part
from crm.selectors.reporting import TextReport


@dataclass(frozen=True)
class Kpi:
    key: str
    title: str
    value: str
    href: str = ""
    previous: str = ""  # the same number for the period before, as shown
    change: int | None = None  # percent against the previous period; None when it was 0
    goal: str = ""
    percent: int | None = None  # of the goal
    note: str = ""

    @property
    def change_label(self) -> str:
        if self.change is None:
            return "new" if self.value not in ("0", "$0.00", "0%", "-") else ""
        return f"{self.change:+d}%"


def _change(now: int, before: int) -> int | None:
    return round(100 * (now - before) / abs(before)) if before else None


def _shown(value: int, money: bool) -> str:
    return format_cents(value) if money else f"{value:,}"


def kpi(key: str, title: str, value: int, previous: int, *, href: str, money: bool = False,
        goal: int | None = None, note: str = "") -> Kpi:
    """A number, how it moved against the previous period, and how far it is towards its goal."""
    return Kpi(key=key, title=title, value=_shown(value, money), href=href, previous=_shown(previous, money),
               change=_change(value, previous), note=note,
               goal=_shown(goal, money) if goal else "",
               percent=min(100, round(100 * value / goal)) if goal else None)


def reply_rate_kpi(texts: TextReport) -> Kpi:
    rate, before = TextReport.rate(texts.replies, texts.sent), TextReport.rate(texts.replies_previous, texts.sent_previous)
    return Kpi(key="reply_rate", title="Reply rate", value=f"{rate:.0%}" if rate is not None else "-",
               href=texts.links["replies"], previous=f"{before:.0%}" if before is not None else "-",
               change=round(100 * (rate - before)) if rate is not None and before is not None else None,
               note=f"{texts.replies:,} replies to {texts.sent:,} texts sent")


def hot_lead_queue(*, user, limit: int = 10) -> list[Lead]:
    """The leads a rep should call first: hot, then warm, most recently alerted first. One
    ordered scan of the rep's lead_rep_call_first index (migration 0019), stopped at `limit`:
    "HOT" sorts before "WARM", so ordering by the priority's value is hot first."""
    return list(
        scope_queryset(Lead.objects.all(), user).filter(priority__in=[Lead.Priority.HOT, Lead.Priority.WARM])
        .exclude(status__in=[Lead.Status.PAID, Lead.Status.LOST]).select_related("assigned_rep")
        .order_by("priority", F("hot_at").desc(nulls_last=True), "-id")[:limit]
    )


def unread_notifications(*, user, limit: int = 8) -> list[Notification]:
    return list(
        Notification.objects.filter(recipient=user, read_at__isnull=True)
        .select_related("lead").order_by("-created_at")[:limit]
    )


def _per_rep(rows, rep_field: str):
    """How many of `rows` belong to the rep of the outer query, as a subquery (0 when none)."""
    counted = rows.filter(**{rep_field: OuterRef("pk")}).order_by().values(rep_field).annotate(n=Count("pk"))
    return Coalesce(Subquery(counted.values("n")[:1]), 0)


def rep_table_parts(sources: Sources, days: Days) -> list:
    """Parts (for crm.selectors.reporting.dashboard_report's statement) of the per-rep table over
    the period of `days`, per active rep: leads created and assigned to them (lead_rep_created),
    leads turned hot, replies received on their leads (pre-counted, by rep) and clients they won."""
    period = {"gte": days.split, "lt": days.end}
    reps = User.objects.filter(groups__name="REP", is_active=True)

    def per_rep(key: str, rows, rep_field: str):
        return part(reps, key, F("pk"), _per_rep(rows, rep_field))

    def within(field: str) -> dict:
        return {f"{field}__{lookup}": moment for lookup, moment in period.items()}

    return activity_parts(sources, days, [ActivityCount.Metric.TEXT_IN], by_rep=True) + [
        per_rep("rep_leads", Lead.objects.filter(**within("created_at")), "assigned_rep"),
        per_rep("rep_hot", Lead.objects.filter(**within("hot_at")), "assigned_rep"),
        per_rep("rep_won", Client.objects.filter(**within("created_at")), "rep"),
    ]


def rep_performance(*, reps: list[dict], totals: dict) -> list[dict]:
    """The per-rep table from `rep_table_parts`' rows: each active rep of `reps` ({"pk",
    "username", "first_name", "last_name", "is_active"}), in that order."""
    def count(key: str, rep_id: int) -> int:
        return totals.get((key, rep_id), 0)

    return [
        {"rep": f"{rep['first_name']} {rep['last_name']}".strip() or rep["username"], "rep_id": rep["pk"],
         "leads": count("rep_leads", rep["pk"]), "hot": count("rep_hot", rep["pk"]),
         "replies": count(f"rep:{ActivityCount.Metric.TEXT_IN}", rep["pk"]), "won": count("rep_won", rep["pk"])}
        for rep in reps if rep["is_active"]
    ]
