"""Reporting selectors on a small fixed data set, at a fixed clock just after a month boundary in
New York (the active zone): 01:30 UTC on 1 December is 20:30 on 30 November there, so "this
month" is November, which began at 04:00 UTC (EDT ended on 1 November 2026)."""

from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from crm.models import Lead, Message, MrrChange
from crm.selectors.date_ranges import DateRange, date_range_from_params
from crm.selectors.reporting import dashboard_report
from crm.selectors.revenue import mrr_cents_now
from tests.factories import (
    ClientFactory,
    LeadFactory,
    MessageFactory,
    PreviewEventFactory,
    RepUserFactory,
    SubscriptionFactory,
    TargetFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 20:30 on 30 November in New York
NOVEMBER = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 on 1 November in New York
DECEMBER = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 00:00 on 1 December in New York (EST)
OCTOBER_LAST = NOVEMBER - timedelta(hours=1)  # 23:00 on 31 October in New York


@pytest.fixture(autouse=True)
def new_york():
    with timezone.override(NY), time_machine.travel(NOW, tick=False):
        yield


def created(obj, when):
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)
    return obj


def november() -> DateRange:
    return date_range_from_params({"range": "this_month"}, now=NOW)


@pytest.fixture
def world():
    alice, bob = RepUserFactory(username="alice"), RepUserFactory(username="bob")
    late_nov = NOW - timedelta(hours=2)  # 18:30 on 30 November in New York
    early_nov = NOVEMBER + timedelta(minutes=1)
    a1 = created(LeadFactory(assigned_rep=alice, status=Lead.Status.REPLIED, last_contacted_at=late_nov,
                             hot_at=late_nov, priority=Lead.Priority.HOT), early_nov)
    a2 = created(LeadFactory(assigned_rep=alice, status=Lead.Status.CONTACTED, last_contacted_at=early_nov), late_nov)
    # 23:00 on 31 October in New York is 03:00 UTC on 1 November: October, not November.
    created(LeadFactory(assigned_rep=alice, status=Lead.Status.CONTACTED, last_contacted_at=OCTOBER_LAST),
            OCTOBER_LAST)
    b1 = created(LeadFactory(assigned_rep=bob, status=Lead.Status.PAID, hot_at=OCTOBER_LAST,
                             priority=Lead.Priority.HOT), late_nov)
    created(LeadFactory(status=Lead.Status.LOST), late_nov)
    for status in ("sent", "delivered", "failed", "delivered"):
        created(MessageFactory(lead=a1, status=status), late_nov)
    created(MessageFactory(lead=a1, direction=Message.Direction.INBOUND, status="received"), late_nov)
    created(MessageFactory(lead=a2, status="delivered"), OCTOBER_LAST)
    created(MessageFactory(lead=b1, direction=Message.Direction.INBOUND, status="received"), OCTOBER_LAST)
    created(PreviewEventFactory(lead=a1), late_nov)
    created(PreviewEventFactory(lead=a1), early_nov)
    created(PreviewEventFactory(lead=b1, kind="cta_click"), late_nov)
    created(PreviewEventFactory(lead=b1), DECEMBER)  # tomorrow in New York: outside the range
    client = created(ClientFactory(lead=b1, rep=bob), late_nov)
    SubscriptionFactory(client=client, amount_cents=9900, interval="month")
    SubscriptionFactory(client=ClientFactory(rep=alice), amount_cents=120000, interval="year")
    gone = SubscriptionFactory(client=ClientFactory(rep=bob), amount_cents=5000, status="canceled",
                               canceled_at=late_nov)
    MrrChange.objects.create(client=gone.client, subscription=gone, kind="new", delta_cents=5000,
                             mrr_after_cents=5000, occurred_at=OCTOBER_LAST, source="t:1")
    MrrChange.objects.create(client=gone.client, subscription=gone, kind="churn", delta_cents=-5000,
                             mrr_after_cents=0, occurred_at=late_nov, source="t:2")
    TransactionFactory(client=client, kind="setup", amount_cents=50000, occurred_at=late_nov)
    TransactionFactory(client=client, kind="subscription", amount_cents=9900, occurred_at=early_nov)
    TransactionFactory(client=client, kind="refund", amount_cents=-1000, occurred_at=late_nov)
    TransactionFactory(client=client, kind="setup", amount_cents=70000, occurred_at=OCTOBER_LAST)
    TransactionFactory(client=client, kind="setup", amount_cents=1, occurred_at=late_nov, status="failed")
    return {"alice": alice, "bob": bob, "a1": a1, "b1": b1}


def report(**kwargs):
    return dashboard_report(period=november(), **kwargs)


# The whole report: a savepoint (or, outside a transaction, BEGIN), the watermarks, the counts,
# its release (COMMIT); with money, the MRR now too.
REPORT_QUERIES = 4


def test_lead_numbers_count_the_range_and_the_one_before(world, django_assert_num_queries):
    with django_assert_num_queries(REPORT_QUERIES):
        leads = report().leads
    assert (leads.new, leads.new_previous) == (4, 1)
    assert (leads.contacted, leads.contacted_previous) == (2, 1)
    assert (leads.turned_hot, leads.turned_hot_previous) == (1, 1)
    assert leads.hot_now == 1  # b1 is paid
    assert [(s["key"], s["count"]) for s in leads.funnel] == [
        ("imported", 4), ("contacted", 3), ("engaged", 2), ("replied", 2), ("paid", 1)]
    alice = report(rep_id=world["alice"].pk).leads
    assert (alice.new, alice.new_previous, alice.hot_now) == (2, 1, 1)
    assert [s["count"] for s in alice.funnel] == [2, 2, 1, 1, 0]
    query = parse_qs(urlparse(alice.links["new"]).query)
    assert query["assigned_rep__id__exact"] == [str(world["alice"].pk)]
    assert query["created_at__gte"] == [NOVEMBER.isoformat()]
    assert "assigned_rep__id__exact" not in parse_qs(urlparse(
        report(rep_id=world["alice"].pk, link_rep=False).leads.links["new"]).query)


def test_texts_by_local_day_across_the_dst_change(world, django_assert_num_queries):
    with django_assert_num_queries(REPORT_QUERIES):
        texts = report().texts
    assert (texts.sent, texts.sent_previous, texts.replies, texts.replies_previous) == (3, 1, 1, 1)
    assert (texts.delivered, texts.failed) == (2, 1)
    by_day = {d["day"]: d for d in texts.days}
    assert len(texts.days) == 30 and by_day[date(2026, 11, 30)]["sent"] == 3
    assert by_day[date(2026, 11, 30)]["replies"] == 1 and by_day[date(2026, 11, 1)]["sent"] == 0
    assert texts.rate(texts.replies, texts.sent) == pytest.approx(1 / 3)
    bob = report(rep_id=world["bob"].pk, texts_by_day=False).texts
    assert (bob.replies, bob.replies_previous, bob.sent, bob.days) == (0, 1, 0, [])
    alice = report(rep_id=world["alice"].pk, texts_by_day=False).texts
    assert (alice.sent, alice.sent_previous, alice.replies) == (3, 1, 1)


def test_a_text_still_queued_or_sending_is_not_sent_yet(world):
    for status in ("queued", "sending", "canceled", "undelivered"):
        created(MessageFactory(lead=world["a1"], status=status), NOW - timedelta(hours=1))
    texts = report().texts
    last = texts.days[-1]
    assert (last["sent"], last["delivered"], last["failed"]) == (4, 2, 2)  # undelivered: sent and failed


def test_preview_views_by_local_day_count_views_only_in_the_range(world, django_assert_num_queries):
    with django_assert_num_queries(REPORT_QUERIES):
        days = report(views=True).views
    counted = {d["day"]: d["views"] for d in days if d["views"]}
    # 00:01 on 1 November in New York is still EDT (04:01 UTC); the clocks went back at 02:00.
    assert counted == {date(2026, 11, 1): 1, date(2026, 11, 30): 1}
    assert sum(d["views"] for d in report(rep_id=world["bob"].pk, views=True).views) == 0


def test_money(world, django_assert_num_queries):
    with django_assert_num_queries(REPORT_QUERIES + 1):
        money = report(money=True).money
    assert money.by_kind == {"setup": 50000, "subscription": 9900, "upsell": 0, "refund": -1000}
    assert (money.revenue_cents, money.revenue_previous_cents) == (58900, 70000)
    assert money.mrr_cents == 9900 + 10000 == mrr_cents_now()
    # b1's client in November; the two created by the factories "now" (30 November) too.
    assert (money.canceled, money.canceled_previous, money.new_clients) == (1, 0, 3)
    assert (money.mrr_previous_end_cents, money.churned_cents) == (5000, -5000)
    alice = report(money=True, rep_id=world["alice"].pk).money
    assert (alice.revenue_cents, alice.mrr_cents, alice.canceled) == (0, 10000, 0)


def test_a_reps_mrr_counts_quantity_as_the_revenue_page_does(world):
    SubscriptionFactory(client=ClientFactory(rep=world["alice"]), amount_cents=2000, quantity=3, interval="month")
    assert report(money=True, rep_id=world["alice"].pk).money.mrr_cents == 10000 + 6000
    assert report(money=True).money.mrr_cents == mrr_cents_now() == 9900 + 10000 + 6000


def test_month_goals_team_or_one_rep(world):
    TargetFactory(metric="leads", period="month", period_start=date(2026, 11, 1), goal=10, rep=None)
    TargetFactory(metric="leads", period="month", period_start=date(2026, 11, 1), goal=3, rep=world["alice"])
    month = date(2026, 11, 1)
    assert report(goals_month=month).goals == {"leads": 10}
    assert report(goals_month=month, rep_id=world["alice"].pk).goals == {"leads": 3}
    assert report(goals_month=month, rep_id=world["bob"].pk).goals == {}
    assert report().goals == {}
