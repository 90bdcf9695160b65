"""Revenue selectors on fixed clocks: revenue by type per month, the projection (hand-computed),
its inputs, churn-risk scores and reasons, upsell candidates, a rep's earnings by month, and the
number of queries each takes (the same for 3 clients as for 30)."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine

from crm.models import Commission, Lead, Message, MrrChange, PreviewEvent, Subscription, Transaction, Upsell
from crm.selectors.client_health import RISK_RULES, client_risks, riskiest_clients, top_plan, upsell_candidates
from crm.selectors.earnings import rep_earnings_by_month, rep_earnings_totals
from crm.selectors.revenue import (
    PROJECTION_MONTHS,
    mrr_cents_now,
    ProjectionInputs,
    projection,
    projection_inputs,
    revenue_by_month,
)
from tests.factories import (
    ClientFactory,
    CommissionFactory,
    CompanySettingsFactory,
    LeadFactory,
    MessageFactory,
    PreviewEventFactory,
    SubscriptionFactory,
    TransactionFactory,
    UpsellFactory,
)

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
NOW = datetime(2026, 4, 20, 16, 0, tzinfo=UTC)
REASON = {rule.code: rule.reason for rule in RISK_RULES}


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def day(month: int, d: int, year: int = 2026) -> datetime:
    return datetime(year, month, d, 12, 0, tzinfo=UTC)


# --- revenue by type --------------------------------------------------------------------------

def test_revenue_by_type_per_month_net_of_refunds():
    client = ClientFactory()
    T = Transaction.Kind
    for kind, amount, at in [(T.SETUP, 49_900, day(2, 10)), (T.SUBSCRIPTION, 9_900, day(2, 10)),
                             (T.SUBSCRIPTION, 9_900, day(3, 10)), (T.UPSELL, 19_900, day(3, 12)),
                             (T.REFUND, -10_000, day(3, 15)), (T.SUBSCRIPTION, 9_900, day(4, 10)),
                             (T.SUBSCRIPTION, 9_900, day(4, 11)), (T.SETUP, 49_900, day(4, 1, 2025)),
                             # 22:00 on 28 February in New York (the site's zone): February's
                             (T.SETUP, 100, datetime(2026, 3, 1, 3, 0, tzinfo=UTC))]:
        TransactionFactory(client=client, kind=kind, amount_cents=amount, occurred_at=at)
    TransactionFactory(client=client, kind=T.SUBSCRIPTION, amount_cents=9_900, occurred_at=day(4, 12),
                       status=Transaction.Status.FAILED)

    months = revenue_by_month(now=NOW, months=3)

    assert [(f"{m.month:%b}", m.setup_cents, m.subscription_cents, m.upsell_cents, m.refund_cents, m.net_cents)
            for m in months] == [
        ("Feb", 50_000, 9_900, 0, 0, 59_900),
        ("Mar", 0, 9_900, 19_900, -10_000, 19_800),
        ("Apr", 0, 19_800, 0, 0, 19_800),  # the failed payment is not revenue; April 2025 is out
    ]


# --- MRR now ----------------------------------------------------------------------------------

def test_mrr_now_honours_quantity_and_interval_as_each_subscription_counts_it():
    client, other = ClientFactory(), ClientFactory()
    SubscriptionFactory(client=client, amount_cents=9_900, quantity=3)  # 29,700
    SubscriptionFactory(client=client, amount_cents=30, interval="year")  # 2.5 a month: 2, as mrr_cents rounds
    SubscriptionFactory(client=other, amount_cents=30, interval="year")  # 2 (not 5 for the pair)
    SubscriptionFactory(client=other, amount_cents=1_000, status=Subscription.Status.PAST_DUE)  # still MRR
    SubscriptionFactory(client=other, amount_cents=50_000, status=Subscription.Status.CANCELED)  # none

    assert mrr_cents_now() == 29_700 + 2 + 2 + 1_000 == sum(s.mrr_cents for s in Subscription.objects.all())


# --- projection -------------------------------------------------------------------------------

def test_projection_by_hand():
    # 30 open leads x 20% conversion = 6 wins over 6 months: 1 a month; churn 5% a month.
    inputs = ProjectionInputs(mrr_cents=100_000, open_leads=30, setup_fee_cents=50_000, monthly_plan_cents=10_000,
                              cohort_contacted=40, cohort_won=8, churn_rate=0.05, churn_months=3)

    months = projection(inputs, now=NOW)

    assert inputs.conversion_rate == 0.2
    assert inputs.wins_per_month == 1.0
    assert inputs.pipeline_value_cents == 30 * 60_000
    assert [(f"{p.month:%b %Y}", p.churned_cents, p.mrr_cents, p.revenue_cents) for p in months] == [
        # MRR = last x 0.95 + 1 x 10,000 (churn rounded to the cent); revenue = MRR + 1 x 50,000
        ("May 2026", 5_000, 105_000, 155_000),  # 100,000 - 5,000 + 10,000
        ("Jun 2026", 5_250, 109_750, 159_750),  # 105,000 - 5,250 + 10,000
        ("Jul 2026", 5_488, 114_262, 164_262),  # 109,750 - 5,487.5 (5,488) + 10,000
        ("Aug 2026", 5_713, 118_549, 168_549),  # 114,262 - 5,713.1 + 10,000
        ("Sep 2026", 5_927, 122_622, 172_622),  # 118,549 - 5,927.45 + 10,000
        ("Oct 2026", 6_131, 126_491, 176_491),  # 122,622 - 6,131.1 + 10,000
    ]
    assert len(months) == PROJECTION_MONTHS


def test_projection_with_no_history_is_flat():
    inputs = ProjectionInputs(mrr_cents=50_000, open_leads=10, setup_fee_cents=1, monthly_plan_cents=1,
                              cohort_contacted=0, cohort_won=0, churn_rate=0.0, churn_months=0)

    assert {p.mrr_cents for p in projection(inputs, now=NOW)} == {50_000}


def test_projection_inputs_from_the_database(django_assert_num_queries):
    CompanySettingsFactory(setup_fee_cents=49_900, monthly_plan_cents=9_900)
    S = Lead.Status
    recent, old = NOW - timedelta(days=40), NOW - timedelta(days=300)
    for status, created in [(S.NEW, recent), (S.CONTACTED, recent), (S.REPLIED, recent), (S.NEGOTIATING, recent),
                            (S.PAID, recent), (S.LOST, recent), (S.ENGAGED, old), (S.PAID, old)]:
        lead = LeadFactory(status=status)
        Lead.objects.filter(pk=lead.pk).update(created_at=created)
    client = ClientFactory()
    sub = SubscriptionFactory(client=client, amount_cents=20_000)
    # March: starts at 20,000, loses 5,000 (churn rate 25%); January and February start at 0.
    MrrChange.objects.create(client=client, subscription=sub, kind="new", delta_cents=20_000, mrr_after_cents=20_000,
                             occurred_at=day(2, 10), source="a")
    MrrChange.objects.create(client=client, subscription=sub, kind="churn", delta_cents=-5_000,
                             mrr_after_cents=15_000, occurred_at=day(3, 10), source="b")

    with django_assert_num_queries(5):  # settings, open leads, cohort, churn months, MRR
        inputs = projection_inputs(now=NOW)

    assert inputs.open_leads == 4  # contacted, replied, negotiating (recent) + engaged (old)
    assert (inputs.cohort_contacted, inputs.cohort_won) == (5, 1)  # the recent ones not NEW; 1 paid
    assert inputs.conversion_rate == pytest.approx(0.2)
    assert inputs.mrr_cents == 20_000
    assert inputs.pipeline_value_cents == 4 * (49_900 + 9_900)
    assert (inputs.churn_rate, inputs.churn_months) == (pytest.approx(0.25), 1)


# --- churn risk -------------------------------------------------------------------------------

def live_client(name: str, *, amount: int = 9_900, days: int = 200, contacted: bool = True, rep=None, **sub_fields):
    lead = LeadFactory(assigned_rep=rep)
    client = ClientFactory(lead=lead, name=name, rep=rep)
    sub = SubscriptionFactory(client=client, amount_cents=amount, started_at=NOW - timedelta(days=days), **sub_fields)
    MrrChange.objects.create(client=client, subscription=sub, kind="new", delta_cents=amount, mrr_after_cents=amount,
                             occurred_at=sub.started_at, source=f"start:{sub.pk}")
    if contacted:
        MessageFactory(lead=lead)
    return client


def riskiest(now):
    return riskiest_clients(risks=client_risks(now=now))


def at_time(model, row, moment):
    model.objects.filter(pk=row.pk).update(created_at=moment)


def test_risk_scores_and_reasons():
    live_client("Healthy")
    live_client("Past due", status=Subscription.Status.PAST_DUE)
    cancelling = live_client("Cancelling", cancel_at_period_end=True)
    TransactionFactory(client=cancelling, kind="subscription", status=Transaction.Status.FAILED,
                       occurred_at=NOW - timedelta(days=5))
    live_client("Silent", contacted=False)
    quiet = live_client("Fading")
    for days_ago in (35, 40, 45, 50):  # 4 views the month before, 1 this month
        at_time(PreviewEvent, PreviewEventFactory(lead=quiet.lead, kind=PreviewEvent.Kind.VIEW),
                NOW - timedelta(days=days_ago))
    at_time(PreviewEvent, PreviewEventFactory(lead=quiet.lead, kind=PreviewEvent.Kind.VIEW), NOW - timedelta(days=3))
    for days_ago in (33, 38):  # 2 replies the month before, none this month
        at_time(Message, MessageFactory(lead=quiet.lead, direction=Message.Direction.INBOUND),
                NOW - timedelta(days=days_ago))
    churned = live_client("Gone", status=Subscription.Status.PAST_DUE)
    churned.status = "churned"
    churned.save()

    rows = {row.name: row for row in riskiest(NOW)}

    assert [row.name for row in riskiest(NOW)] == ["Cancelling", "Past due", "Fading", "Silent"]
    assert rows["Cancelling"].score == 55
    assert rows["Cancelling"].reasons == [REASON["cancel_scheduled"], REASON["failed_payment"]]
    assert (rows["Past due"].score, rows["Past due"].reasons) == (40, [REASON["past_due"]])
    assert (rows["Fading"].score, rows["Fading"].reasons) == (20, [REASON["previews_falling"],
                                                                    REASON["replies_falling"]])
    assert (rows["Silent"].score, rows["Silent"].reasons) == (15, [REASON["no_contact"]])
    assert rows["Past due"].mrr == "$99.00"
    assert "Healthy" not in rows and "Gone" not in rows


def test_the_score_is_capped_at_100():
    client = live_client("Everything", contacted=False, status=Subscription.Status.PAST_DUE, cancel_at_period_end=True)
    TransactionFactory(client=client, kind="subscription", status=Transaction.Status.FAILED,
                       occurred_at=NOW - timedelta(days=1))

    [row] = riskiest(NOW)

    assert row.score == 100
    assert len(row.reasons) == 4


def test_an_old_text_means_no_contact():
    client = live_client("Old friend", contacted=False)
    at_time(Message, MessageFactory(lead=client.lead), NOW - timedelta(days=46))

    assert [(r.name, r.reasons) for r in riskiest(NOW)] == [("Old friend", [REASON["no_contact"]])]


# --- upsell candidates ------------------------------------------------------------------------

def test_upsell_candidates():
    live_client("Top plan", amount=14_900)
    live_client("Long standing", days=400)
    live_client("Candidate", days=120)
    live_client("Too new", days=30)
    live_client("Unhealthy", contacted=True, status=Subscription.Status.PAST_DUE)
    offered = live_client("Already offered")
    UpsellFactory(client=offered, status=Upsell.Status.PROPOSED)
    declined = live_client("Declined before")
    UpsellFactory(client=declined, status=Upsell.Status.DECLINED)

    found = upsell_candidates(now=NOW, risks=client_risks(now=NOW))

    assert [c.name for c in found] == ["Long standing", "Declined before", "Candidate"]
    first = found[0]
    assert first.offer == "Upgrade to Hosting & care ($149.00/month)"
    assert first.offer_cents == 5_000
    assert first.months == 13
    assert top_plan().amount_cents == 14_900


def test_no_candidates_without_plans():
    assert upsell_candidates(now=NOW, risks=client_risks(now=NOW)) == []


# --- earnings ---------------------------------------------------------------------------------

def test_a_reps_earnings_by_month_are_their_own(rep_user, other_rep):
    def line(rep, amount, at, status=Commission.Status.PENDING, kind=Commission.Kind.ACCRUAL):
        row = CommissionFactory(rep=rep, amount_cents=amount, status=status, kind=kind)
        at_time(Commission, row, at)

    line(rep_user, 5_000, day(3, 5), Commission.Status.PAID)
    line(rep_user, 990, day(3, 20), Commission.Status.APPROVED)
    line(rep_user, -500, day(4, 2), kind=Commission.Kind.REFUND_CLAWBACK)
    line(rep_user, 990, day(4, 10))
    line(rep_user, 12_345, day(4, 11), Commission.Status.VOID)
    line(other_rep, 99_999, day(4, 12), Commission.Status.PAID)

    months = rep_earnings_by_month(rep=rep_user, now=NOW, months=3)
    totals = rep_earnings_totals(rep=rep_user)

    assert [(f"{m.month:%b}", m.accrued_cents, m.clawed_back_cents, m.net_cents, m.pending_cents,
             m.approved_cents, m.paid_cents) for m in months] == [
        ("Apr", 990, -500, 490, 490, 0, 0),
        ("Mar", 5_990, 0, 5_990, 0, 990, 5_000),
        ("Feb", 0, 0, 0, 0, 0, 0),
    ]
    assert (totals.net_cents, totals.pending_cents, totals.approved_cents, totals.paid_cents) == (6_480, 490, 990, 5_000)
    assert rep_earnings_totals(rep=other_rep).paid_cents == 99_999


# --- bounded queries --------------------------------------------------------------------------

@pytest.mark.parametrize("clients", [3, 30])
def test_queries_do_not_grow_with_clients(clients, django_assert_num_queries):
    for i in range(clients):
        live_client(f"Client {i}", amount=9_900 if i % 2 else 14_900, contacted=bool(i % 3),
                    status=Subscription.Status.PAST_DUE if i % 5 == 0 else Subscription.Status.ACTIVE)

    with django_assert_num_queries(len(RISK_RULES)):
        risks = client_risks(now=NOW)
    with django_assert_num_queries(1):
        riskiest_clients(risks=risks)
    with django_assert_num_queries(4):  # the top plan, the candidates, their clients, their plans
        upsell_candidates(now=NOW, risks=risks)
    with django_assert_num_queries(1):
        revenue_by_month(now=NOW)
