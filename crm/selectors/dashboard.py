"""The dashboard's cards and lists: KPI cards built from crm/selectors/reporting.py, the "call
these first" list, unread notifications and the per-rep table. Reps get their own; admins get
the company's."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, F, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from crm.models import Client, Lead, Message, Notification, User
from crm.models.base import format_cents
from crm.selectors.access import scope_queryset
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
    """The leads a rep should call first: hot, then warm, most recently active first."""
    leads = scope_queryset(Lead.objects.all(), user).exclude(
        status__in=[Lead.Status.PAID, Lead.Status.LOST]
    ).filter(priority__in=[Lead.Priority.HOT, Lead.Priority.WARM])
    rank = Case(When(priority=Lead.Priority.HOT, then=Value(0)), default=Value(1), output_field=IntegerField())
    return list(leads.select_related("assigned_rep").order_by(rank, F("hot_at").desc(nulls_last=True), "-id")[:limit])


def unread_notifications(*, user, limit: int = 8) -> list[Notification]:
    return list(
        Notification.objects.filter(recipient=user, read_at__isnull=True)
        .select_related("lead").order_by("-created_at")[:limit]
    )


def _per_rep(rows, rep_field: str):
    """How many of `rows` belong to the rep of the outer query, as a subquery (0 when none)."""
    counted = rows.filter(**{rep_field: OuterRef("pk")}).order_by().values(rep_field).annotate(n=Count("pk"))
    return Coalesce(Subquery(counted.values("n")[:1]), 0)


def rep_performance(*, since: datetime, until: datetime) -> list[dict]:
    """Per active rep, in [since, until): leads assigned and created, leads turned hot, replies
    received on their leads, and clients they closed. One query, whatever the number of reps."""
    reps = User.objects.filter(groups__name="REP", is_active=True).annotate(
        lead_total=_per_rep(Lead.objects.filter(created_at__gte=since, created_at__lt=until), "assigned_rep"),
        hot_total=_per_rep(Lead.objects.filter(hot_at__gte=since, hot_at__lt=until), "assigned_rep"),
        reply_total=_per_rep(Message.objects.filter(direction=Message.Direction.INBOUND, created_at__gte=since,
                                                    created_at__lt=until), "lead__assigned_rep"),
        won_total=_per_rep(Client.objects.filter(created_at__gte=since, created_at__lt=until), "rep"),
    ).order_by("username")
    return [
        {"rep": rep.get_full_name() or rep.username, "rep_id": rep.pk, "leads": rep.lead_total, "hot": rep.hot_total,
         "replies": rep.reply_total, "won": rep.won_total}
        for rep in reps
    ]
