"""Numbers for the admin dashboard. Reps get their own; admins get the company's."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, F, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import Client, Lead, Message, Notification, Subscription, Target, Transaction, User
from crm.models.base import format_cents
from crm.selectors.access import scope_queryset


@dataclass(frozen=True)
class Kpi:
    title: str
    value: str
    goal: str = ""
    percent: int | None = None
    href: str = ""


def month_start(now: datetime | None = None) -> datetime:
    now = timezone.localtime(now or timezone.now())
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def monthly_recurring_cents() -> int:
    """MRR: the monthly value of every active subscription (yearly plans / 12)."""
    rows = Subscription.objects.filter(status=Subscription.Status.ACTIVE).values("interval").annotate(
        total=Sum("amount_cents")
    )
    total = 0
    for row in rows:
        total += row["total"] // 12 if row["interval"] == "year" else row["total"]
    return total


def lead_counts_since(*, user, since: datetime) -> dict[str, int]:
    """New, contacted, replied and hot leads created or touched since `since`, in one query."""
    leads = scope_queryset(Lead.objects.all(), user)
    return leads.aggregate(
        new=Count("pk", filter=Q(created_at__gte=since)),
        contacted=Count("pk", filter=Q(last_contacted_at__gte=since)),
        hot=Count("pk", filter=Q(hot_at__gte=since)),
    )


def replies_since(*, user, since: datetime) -> int:
    messages = scope_queryset(Message.objects.all(), user)
    return messages.filter(direction=Message.Direction.INBOUND, created_at__gte=since).count()


def _target_goals(period_start) -> dict[str, int]:
    return dict(
        Target.objects.filter(period=Target.Period.MONTH, period_start=period_start.date(), rep=None)
        .values_list("metric", "goal")
    )


def _kpi(title: str, value: int, goal: int | None, money: bool = False, href: str = "") -> Kpi:
    shown = format_cents(value) if money else f"{value:,}"
    if not goal:
        return Kpi(title=title, value=shown, href=href)
    goal_shown = format_cents(goal) if money else f"{goal:,}"
    return Kpi(title=title, value=shown, goal=goal_shown, percent=min(100, round(100 * value / goal)), href=href)


def dashboard_kpis(*, user) -> list[Kpi]:
    since = month_start()
    counts = lead_counts_since(user=user, since=since)
    replies = replies_since(user=user, since=since)
    goals = _target_goals(since)
    kpis = [
        _kpi("New leads this month", counts["new"], goals.get("leads")),
        _kpi("Contacted this month", counts["contacted"], goals.get("contacted")),
        _kpi("Replies this month", replies, goals.get("replies")),
        _kpi("Hot leads this month", counts["hot"], goals.get("hot_leads")),
    ]
    if user.is_rep:
        return kpis
    revenue = Transaction.objects.filter(
        occurred_at__gte=since, status=Transaction.Status.SUCCEEDED
    ).aggregate(total=Sum("amount_cents"))["total"] or 0
    new_clients = Client.objects.filter(created_at__gte=since).count()
    kpis += [
        _kpi("MRR", monthly_recurring_cents(), goals.get("mrr"), money=True),
        _kpi("Revenue this month", revenue, goals.get("revenue"), money=True),
        _kpi("New clients this month", new_clients, goals.get("new_clients")),
        _kpi("Clients at churn risk", Client.objects.filter(churn_risk=True, status="active").count(), None),
    ]
    return kpis


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


def rep_performance(*, since: datetime) -> list[dict]:
    """Per active rep, since `since`: leads assigned and created, leads turned hot, replies
    received on their leads, and clients they closed. One query, whatever the number of reps."""
    reps = User.objects.filter(groups__name="REP", is_active=True).annotate(
        lead_total=_per_rep(Lead.objects.filter(created_at__gte=since), "assigned_rep"),
        hot_total=_per_rep(Lead.objects.filter(hot_at__gte=since), "assigned_rep"),
        reply_total=_per_rep(Message.objects.filter(direction=Message.Direction.INBOUND, created_at__gte=since),
                             "lead__assigned_rep"),
        won_total=_per_rep(Client.objects.filter(created_at__gte=since), "rep"),
    ).order_by("username")
    return [
        {"rep": rep.get_full_name() or rep.username, "leads": rep.lead_total, "hot": rep.hot_total,
         "replies": rep.reply_total, "won": rep.won_total}
        for rep in reps
    ]
