"""Dashboard selectors on a small fixed data set, at a fixed clock just after a month boundary
in New York (the site's zone): 01:30 UTC on 1 December is still 30 November there."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine

from crm.models import Lead, Message, Notification, User
from crm.selectors.dashboard import hot_lead_queue, kpi, rep_performance, rep_table_parts, unread_notifications
from crm.selectors.date_ranges import DateRange
from crm.selectors.reporting import dashboard_report
from tests.factories import (
    AdminUserFactory,
    ClientFactory,
    LeadFactory,
    MessageFactory,
    NotificationFactory,
    RepUserFactory,
    SubscriptionFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
NOW = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 20:30 on 30 November in New York
NOVEMBER = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 on 1 November in New York (EDT ends 1 Nov)


def at(moment):
    return time_machine.travel(moment, tick=False)


def created(obj, when):
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)
    return obj


@pytest.fixture
def world():
    """Two reps and an admin; leads, replies, clients either side of the month boundary."""
    with at(NOW):
        admin, alice, bob = AdminUserFactory(), RepUserFactory(username="alice"), RepUserFactory(username="bob")
        this_month = NOW - timedelta(hours=2)  # 30 November, New York
        last_month = NOVEMBER - timedelta(hours=1)  # 31 October, New York
        a1 = created(LeadFactory(assigned_rep=alice, last_contacted_at=this_month, hot_at=this_month,
                                 priority=Lead.Priority.HOT), this_month)
        a2 = created(LeadFactory(assigned_rep=alice, priority=Lead.Priority.WARM,
                                 hot_at=last_month), this_month)
        created(LeadFactory(assigned_rep=alice, last_contacted_at=last_month), last_month)
        b1 = created(LeadFactory(assigned_rep=bob, status=Lead.Status.PAID, hot_at=this_month,
                                 priority=Lead.Priority.HOT), last_month)
        created(MessageFactory(lead=a1, direction=Message.Direction.INBOUND, status="received"), this_month)
        created(MessageFactory(lead=a1, direction=Message.Direction.INBOUND, status="received"), last_month)
        created(MessageFactory(lead=b1, direction=Message.Direction.INBOUND, status="received"), this_month)
        client = created(ClientFactory(lead=b1, rep=bob, churn_risk=True), this_month)
        SubscriptionFactory(client=client, amount_cents=9900, interval="month")
        SubscriptionFactory(client=created(ClientFactory(rep=bob), last_month), amount_cents=120000, interval="year")
        SubscriptionFactory(client=created(ClientFactory(rep=bob), last_month), amount_cents=5000, status="canceled")
        TransactionFactory(client=client, amount_cents=50000, occurred_at=this_month)
        TransactionFactory(client=client, amount_cents=70000, occurred_at=last_month)
        NotificationFactory(recipient=alice, lead=a1, text="a1 is hot")
        NotificationFactory(recipient=alice, lead=a2, text="read", read_at=NOW)
    return {"admin": admin, "alice": alice, "bob": bob, "a1": a1, "a2": a2, "b1": b1}


def test_a_kpi_shows_its_change_and_its_goal():
    card = kpi("new", "New leads", 15, 10, href="/x", goal=30)
    assert (card.value, card.previous, card.change_label, card.percent, card.goal) == ("15", "10", "+50%", 50, "30")
    money = kpi("revenue", "Revenue", 5000, 10000, href="/y", money=True)
    assert (money.value, money.change_label, money.percent) == ("$50.00", "-50%", None)
    assert kpi("churn", "Churn", 2, 0, href="/z").change_label == "new"
    assert kpi("churn", "Churn", 0, 0, href="/z").change_label == ""


def test_the_call_first_queue_is_hot_then_warm_and_a_reps_own(world, django_assert_num_queries):
    with django_assert_num_queries(2):  # the rep's role, then the queue
        assert [lead.pk for lead in hot_lead_queue(user=world["alice"])] == [world["a1"].pk, world["a2"].pk]
    assert world["b1"].pk not in [lead.pk for lead in hot_lead_queue(user=world["admin"])]  # paid


def test_the_call_first_queue_puts_every_hot_lead_before_any_warm_one_newest_alert_first(world):
    with at(NOW):
        alice = world["alice"]
        warm_new = LeadFactory(assigned_rep=alice, priority=Lead.Priority.WARM, hot_at=NOW)
        hot_old = LeadFactory(assigned_rep=alice, priority=Lead.Priority.HOT, hot_at=NOW - timedelta(days=9))
        hot_never = LeadFactory(assigned_rep=alice, priority=Lead.Priority.HOT, hot_at=None)
        LeadFactory(assigned_rep=alice, priority=Lead.Priority.HOT, status=Lead.Status.LOST, hot_at=NOW)
    queue = [lead.pk for lead in hot_lead_queue(user=alice)]
    assert queue == [world["a1"].pk, hot_old.pk, hot_never.pk, warm_new.pk, world["a2"].pk]
    assert [lead.pk for lead in hot_lead_queue(user=alice, limit=2)] == queue[:2]


def test_unread_notifications_are_the_viewers_own(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert [n.text for n in unread_notifications(user=world["alice"])] == ["a1 is hot"]
    assert unread_notifications(user=world["bob"]) == []
    assert Notification.objects.count() == 2


def _rep_rows(since, until, **kwargs):
    period = DateRange(start=since, end=until, preset="custom")
    reps = list(User.objects.filter(groups__name="REP").order_by("username").values(
        "pk", "username", "first_name", "last_name", "is_active"))
    return rep_performance(reps=reps, totals=dashboard_report(period=period, extra=rep_table_parts).totals)


def test_rep_performance_counts_the_range_only(world):
    rows = _rep_rows(NOVEMBER, NOW)
    assert rows == [
        {"rep": rows[0]["rep"], "rep_id": world["alice"].pk, "leads": 2, "hot": 1, "replies": 1, "won": 0},
        {"rep": rows[1]["rep"], "rep_id": world["bob"].pk, "leads": 0, "hot": 1, "replies": 1, "won": 1},
    ]
    assert [row["rep"] for row in rows] == [world["alice"].get_full_name() or "alice",
                                           world["bob"].get_full_name() or "bob"]
    all_time = _rep_rows(datetime(2026, 1, 1, 5, tzinfo=UTC), NOW)
    assert (all_time[0]["leads"], all_time[0]["replies"]) == (3, 2)
    # October alone: the lead and the reply made on 31 October in New York, nothing of November.
    october = _rep_rows(NOVEMBER - timedelta(days=31), NOVEMBER)
    assert (october[0]["leads"], october[0]["hot"], october[0]["replies"]) == (1, 1, 1)


def test_rep_performance_leaves_out_inactive_reps(world):
    User.objects.filter(pk=world["bob"].pk).update(is_active=False)
    assert [row["rep_id"] for row in _rep_rows(NOVEMBER, NOW)] == [world["alice"].pk]
