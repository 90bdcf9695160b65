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
from crm.selectors.reporting import (
    DateRange,
    date_range_from_params,
    lead_report,
    money_report,
    month_goals,
    preview_views_by_day,
    text_report,
)
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


def test_this_month_begins_at_local_midnight_on_the_first_in_new_york():
    period = november()
    assert (period.start, period.end) == (NOVEMBER, DECEMBER)
    assert period.days == 30
    previous = period.previous
    assert previous.end == NOVEMBER and previous.start == datetime(2026, 10, 2, 4, 0, tzinfo=UTC)


def test_presets_custom_ranges_and_bad_input():
    assert date_range_from_params({"range": "7d"}, now=NOW).start == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    last = date_range_from_params({"range": "last_month"}, now=NOW)
    assert (last.start, last.end) == (datetime(2026, 10, 1, 4, 0, tzinfo=UTC), NOVEMBER)
    custom = date_range_from_params({"start": "2026-11-02", "end": "2026-11-03"}, now=NOW)
    assert (custom.preset, custom.days, custom.start.astimezone(NY).hour) == ("custom", 2, 0)
    for params, message in [({"start": "2026-11-05", "end": "2026-11-01"}, "on or before"),
                            ({"start": "nov", "end": "2026-11-01"}, "YYYY-MM-DD"),
                            ({"start": "2024-01-01", "end": "2026-11-01"}, "at most 366 days"),
                            ({"range": "forever"}, "Unknown range")]:
        period = date_range_from_params(params, now=NOW)
        assert message in period.error and period.preset == "this_month"


def test_lead_report_counts_the_range_and_the_one_before(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        report = lead_report(period=november())
    assert (report.new, report.new_previous) == (4, 1)
    assert (report.contacted, report.contacted_previous) == (2, 1)
    assert (report.turned_hot, report.turned_hot_previous) == (1, 1)
    assert report.hot_now == 1  # b1 is paid
    assert [(s["key"], s["count"]) for s in report.funnel] == [
        ("imported", 4), ("contacted", 3), ("engaged", 2), ("replied", 2), ("paid", 1)]
    alice = lead_report(period=november(), rep_id=world["alice"].pk)
    assert (alice.new, alice.new_previous, alice.hot_now) == (2, 1, 1)
    query = parse_qs(urlparse(alice.links["new"]).query)
    assert query["assigned_rep__id__exact"] == [str(world["alice"].pk)]
    assert query["created_at__gte"] == [NOVEMBER.isoformat()]


def test_text_report_by_local_day(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        report = text_report(period=november())
    assert (report.sent, report.sent_previous, report.replies, report.replies_previous) == (3, 1, 1, 1)
    assert (report.delivered, report.failed) == (2, 1)
    by_day = {d["day"]: d for d in report.days}
    assert len(report.days) == 30 and by_day[date(2026, 11, 30)]["sent"] == 3
    assert report.rate(report.replies, report.sent) == pytest.approx(1 / 3)
    assert text_report(period=november(), rep_id=world["bob"].pk).replies == 0


def test_preview_views_by_day_counts_views_only_in_the_range(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        days = preview_views_by_day(period=november())
    counted = {d["day"]: d["views"] for d in days if d["views"]}
    assert counted == {date(2026, 11, 1): 1, date(2026, 11, 30): 1}
    assert sum(d["views"] for d in preview_views_by_day(period=november(), rep_id=world["bob"].pk)) == 0


def test_money_report(world, django_assert_num_queries):
    with django_assert_num_queries(4):
        money = money_report(period=november())
    assert money.by_kind == {"setup": 50000, "subscription": 9900, "upsell": 0, "refund": -1000}
    assert (money.revenue_cents, money.revenue_previous_cents) == (58900, 70000)
    assert money.mrr_cents == 9900 + 10000
    # b1's client in November; the two created by the factories "now" (30 November) too.
    assert (money.canceled, money.canceled_previous, money.new_clients) == (1, 0, 3)
    assert (money.mrr_previous_end_cents, money.mrr_end_cents, money.churned_cents) == (5000, 0, -5000)
    alice = money_report(period=november(), rep_id=world["alice"].pk)
    assert (alice.revenue_cents, alice.mrr_cents, alice.canceled) == (0, 10000, 0)


def test_month_goals_team_or_one_rep(world, django_assert_num_queries):
    TargetFactory(metric="leads", period="month", period_start=date(2026, 11, 1), goal=10, rep=None)
    TargetFactory(metric="leads", period="month", period_start=date(2026, 11, 1), goal=3, rep=world["alice"])
    with django_assert_num_queries(1):
        assert month_goals(month=date(2026, 11, 1), rep_id=None) == {"leads": 10}
    assert month_goals(month=date(2026, 11, 1), rep_id=world["alice"].pk) == {"leads": 3}
    assert month_goals(month=date(2026, 11, 1), rep_id=world["bob"].pk) == {}
