"""How healthy each client is: a churn-risk score 0-100 with its reasons, and the healthy
long-standing clients on a plan below the top one (upsell candidates).

The rules live in RISK_RULES, once: each is worth some points and names the active clients that
meet it with one set-based query (a semi-join or a GROUP BY, never a query per client), so
scoring 10,000 clients is six queries. A client's score is the sum of its rules' points, capped
at 100; its reasons are those rules.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from crm.models import Client, Message, MrrChange, PreviewEvent, Subscription, Transaction, Upsell
from crm.models.base import format_cents

FAILED_PAYMENT_DAYS = 60
NO_CONTACT_DAYS = 45
# Activity "falls" when the last ACTIVITY_WINDOW_DAYS hold at most half of the window before.
ACTIVITY_WINDOW_DAYS = 30
MAX_SCORE = 100
RISK_LIST_LIMIT = 15

UPSELL_MIN_TENURE_DAYS = 90
UPSELL_MAX_RISK = 25  # "healthy": a churn-risk score at most this
UPSELL_LIST_LIMIT = 15


def _live_subscriptions() -> QuerySet:
    return Subscription.objects.filter(client=OuterRef("pk")).exclude(status=Subscription.Status.CANCELED)


def _past_due(clients: QuerySet, now: datetime) -> QuerySet:
    return clients.filter(Exists(_live_subscriptions().filter(status=Subscription.Status.PAST_DUE)))


def _cancel_scheduled(clients: QuerySet, now: datetime) -> QuerySet:
    return clients.filter(Exists(_live_subscriptions().filter(cancel_at_period_end=True)))


def _failed_payment(clients: QuerySet, now: datetime) -> QuerySet:
    return clients.filter(Exists(Transaction.objects.filter(
        client=OuterRef("pk"), kind__in=(Transaction.Kind.SUBSCRIPTION, Transaction.Kind.UPSELL),
        status=Transaction.Status.FAILED, occurred_at__gte=now - timedelta(days=FAILED_PAYMENT_DAYS))))


def _no_contact(clients: QuerySet, now: datetime) -> QuerySet:
    recent = Message.objects.filter(lead=OuterRef("lead_id"), created_at__gte=now - timedelta(days=NO_CONTACT_DAYS))
    return clients.exclude(Exists(recent))


def _falling(events: QuerySet, clients: QuerySet, now: datetime) -> QuerySet:
    """Clients whose lead had `events` in the window before the last one and at most half as
    many in the last one (one GROUP BY over the two windows' events)."""
    recent_start = now - timedelta(days=ACTIVITY_WINDOW_DAYS)
    counts = (events.filter(lead_id__in=clients.values("lead_id"), created_at__gte=now - timedelta(days=2 * ACTIVITY_WINDOW_DAYS),
                            created_at__lt=now)
              .values("lead_id").order_by()
              .annotate(recent=Count("pk", filter=Q(created_at__gte=recent_start)),
                        prior=Count("pk", filter=Q(created_at__lt=recent_start)))
              .filter(prior__gt=0, prior__gte=2 * F("recent")))
    return clients.filter(lead_id__in=counts.values("lead_id"))


def _previews_falling(clients: QuerySet, now: datetime) -> QuerySet:
    return _falling(PreviewEvent.objects.filter(kind=PreviewEvent.Kind.VIEW), clients, now)


def _replies_falling(clients: QuerySet, now: datetime) -> QuerySet:
    return _falling(Message.objects.filter(direction=Message.Direction.INBOUND), clients, now)


@dataclass(frozen=True)
class RiskRule:
    code: str
    points: int
    reason: str
    # The clients among the given active ones that meet the rule at `now`.
    matching: Callable[[QuerySet, datetime], QuerySet]


RISK_RULES = (
    RiskRule("past_due", 40, "Payment failing: a subscription is past due", _past_due),
    RiskRule("cancel_scheduled", 35, "Cancellation scheduled at the end of the period", _cancel_scheduled),
    RiskRule("failed_payment", 20, f"A payment failed in the last {FAILED_PAYMENT_DAYS} days", _failed_payment),
    RiskRule("no_contact", 15, f"No text to or from them in {NO_CONTACT_DAYS} days", _no_contact),
    RiskRule("previews_falling", 10, f"Preview views fell by half or more (last {ACTIVITY_WINDOW_DAYS} days "
                                     f"against the {ACTIVITY_WINDOW_DAYS} before)", _previews_falling),
    RiskRule("replies_falling", 10, f"Replies fell by half or more (last {ACTIVITY_WINDOW_DAYS} days "
                                    f"against the {ACTIVITY_WINDOW_DAYS} before)", _replies_falling),
)


def risk_score(rules: list[RiskRule]) -> int:
    return min(MAX_SCORE, sum(rule.points for rule in rules))


def client_risks(*, now: datetime, client_ids: list[int] | None = None) -> dict[int, list[RiskRule]]:
    """The rules each active client meets (clients meeting none are left out): one query a rule."""
    clients = Client.objects.filter(status=Client.Status.ACTIVE)
    if client_ids is not None:
        clients = clients.filter(pk__in=client_ids)
    met: dict[int, list[RiskRule]] = {}
    for rule in RISK_RULES:
        for client_id in rule.matching(clients, now).order_by().values_list("pk", flat=True):
            met.setdefault(client_id, []).append(rule)
    return met


@dataclass(frozen=True)
class ClientRisk:
    client_id: int
    name: str
    rep: str
    mrr: str
    score: int
    reasons: list[str]


def riskiest_clients(*, risks: dict[int, list[RiskRule]], limit: int = RISK_LIST_LIMIT) -> list[ClientRisk]:
    """The `limit` clients with the highest score in `risks` (from `client_risks`), highest first
    (the lowest client id first among equals), with their MRR now: one query."""
    top = sorted(risks, key=lambda client_id: (-risk_score(risks[client_id]), client_id))[:limit]
    last_mrr = MrrChange.objects.filter(client=OuterRef("pk")).order_by("-id").values("mrr_after_cents")
    rows = {row.pk: row for row in Client.objects.filter(pk__in=top).select_related("rep")
            .annotate(mrr_cents=Coalesce(Subquery(last_mrr[:1]), 0))}
    return [ClientRisk(client_id=pk, name=rows[pk].name, rep=str(rows[pk].rep or "-"),
                       mrr=format_cents(rows[pk].mrr_cents), score=risk_score(risks[pk]),
                       reasons=[rule.reason for rule in risks[pk]]) for pk in top if pk in rows]


@dataclass(frozen=True)
class TopPlan:
    name: str
    amount_cents: int


def top_plan() -> TopPlan | None:
    """The priciest monthly plan any live subscription is on."""
    row = (Subscription.objects.exclude(status=Subscription.Status.CANCELED).filter(interval="month")
           .order_by("-amount_cents").values("plan_name", "amount_cents").first())
    return TopPlan(row["plan_name"], row["amount_cents"]) if row else None


@dataclass(frozen=True)
class UpsellCandidate:
    client_id: int
    name: str
    rep: str
    since: datetime
    months: int
    risk_score: int
    plan: str
    offer: str
    offer_cents: int  # the monthly difference to the top plan


def _upsell_rows(*, top: TopPlan, now: datetime, unhealthy: list[int], client_ids: list[int] | None) -> QuerySet:
    """(client_id, first_started_at, plan_cents) of the candidates, longest-standing first:
    grouped over subscriptions alone (narrow rows), not over clients joined to them."""
    subscriptions = Subscription.objects.filter(client__status=Client.Status.ACTIVE)
    if client_ids is not None:
        subscriptions = subscriptions.filter(client_id__in=client_ids)
    return (subscriptions.exclude(client_id__in=unhealthy)
            .exclude(Exists(Upsell.objects.filter(client=OuterRef("client_id"), status=Upsell.Status.PROPOSED)))
            .values("client_id")
            .annotate(first_started_at=Min("started_at"),
                      plan_cents=Max("amount_cents", filter=~Q(status=Subscription.Status.CANCELED)))
            .filter(first_started_at__lte=now - timedelta(days=UPSELL_MIN_TENURE_DAYS),
                    plan_cents__lt=top.amount_cents)
            .order_by("first_started_at", "client_id"))


def upsell_candidates(*, now: datetime, risks: dict[int, list[RiskRule]], limit: int = UPSELL_LIST_LIMIT,
                      client_ids: list[int] | None = None) -> list[UpsellCandidate]:
    """Healthy active clients (risk <= UPSELL_MAX_RISK in `risks`) of at least
    UPSELL_MIN_TENURE_DAYS whose priciest live subscription is below the top plan, with no
    proposed upsell open, longest-standing first: four queries."""
    top = top_plan()
    if top is None:
        return []
    unhealthy = [pk for pk, rules in risks.items() if risk_score(rules) > UPSELL_MAX_RISK]
    rows = list(_upsell_rows(top=top, now=now, unhealthy=unhealthy, client_ids=client_ids)[:limit])
    ids = [row["client_id"] for row in rows]
    clients = Client.objects.select_related("rep").in_bulk(ids)
    plans = dict(Subscription.objects.filter(client__in=ids).exclude(status=Subscription.Status.CANCELED)
                 .order_by("client_id", "amount_cents").values_list("client_id", "plan_name"))
    return [UpsellCandidate(
        client_id=pk, name=clients[pk].name, rep=str(clients[pk].rep or "-"), since=row["first_started_at"],
        months=(now - row["first_started_at"]).days * 12 // 365, risk_score=risk_score(risks.get(pk, [])),
        plan=f"{plans.get(pk, '?')} ({format_cents(row['plan_cents'])}/month)",
        offer=f"Upgrade to {top.name} ({format_cents(top.amount_cents)}/month)",
        offer_cents=top.amount_cents - row["plan_cents"],
    ) for row in rows if (pk := row["client_id"]) in clients]


def upsell_candidate_for(*, client_id: int, now: datetime) -> UpsellCandidate | None:
    """The client as an upsell candidate now, or None when it is not one (any more)."""
    risks = client_risks(now=now, client_ids=[client_id])
    found = upsell_candidates(now=now, risks=risks, limit=1, client_ids=[client_id])
    return found[0] if found else None
