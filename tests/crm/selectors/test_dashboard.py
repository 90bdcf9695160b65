"""Dashboard selectors on a small fixed data set, at a fixed clock just after a month boundary
in New York (the site's zone): 01:30 UTC on 1 December is still 30 November there."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine

from crm.models import Lead, Message, Notification
from crm.selectors.dashboard import (
    dashboard_kpis,
    hot_lead_queue,
    lead_counts_since,
    month_start,
    monthly_recurring_cents,
    rep_performance,
    replies_since,
    unread_notifications,
)
from tests.factories import (
    AdminUserFactory,
    ClientFactory,
    LeadFactory,
    MessageFactory,
    NotificationFactory,
    RepUserFactory,
    SubscriptionFactory,
    TargetFactory,
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
        TargetFactory(metric="leads", period="month", period_start=month_start(NOW).date(), goal=4, rep=None)
        NotificationFactory(recipient=alice, lead=a1, text="a1 is hot")
        NotificationFactory(recipient=alice, lead=a2, text="read", read_at=NOW)
    return {"admin": admin, "alice": alice, "bob": bob, "a1": a1, "a2": a2, "b1": b1}


def test_month_start_is_in_the_sites_zone():
    assert month_start(NOW) == NOVEMBER


def test_lead_counts_and_replies_since_the_month_began(world, django_assert_num_queries):
    with at(NOW), django_assert_num_queries(1):
        assert lead_counts_since(user=world["admin"], since=NOVEMBER) == {"new": 2, "contacted": 1, "hot": 2}
    assert lead_counts_since(user=world["alice"], since=NOVEMBER) == {"new": 2, "contacted": 1, "hot": 1}
    assert lead_counts_since(user=world["bob"], since=NOVEMBER) == {"new": 0, "contacted": 0, "hot": 1}
    assert replies_since(user=world["admin"], since=NOVEMBER) == 2
    assert replies_since(user=world["alice"], since=NOVEMBER) == 1


def test_mrr_counts_active_plans_yearly_ones_by_the_month():
    SubscriptionFactory(amount_cents=9900, interval="month")
    SubscriptionFactory(amount_cents=120000, interval="year")
    SubscriptionFactory(amount_cents=5000, status="canceled")
    assert monthly_recurring_cents() == 9900 + 10000


def test_kpis_for_an_admin_and_for_a_rep(world, django_assert_num_queries):
    with at(NOW), django_assert_num_queries(7):
        kpis = {k.title: k for k in dashboard_kpis(user=world["admin"])}
    assert kpis["New leads this month"].value == "2" and kpis["New leads this month"].percent == 50
    assert kpis["MRR"].value == "$199.00"
    assert kpis["Revenue this month"].value == "$500.00"
    assert kpis["New clients this month"].value == "1" and kpis["Clients at churn risk"].value == "1"
    with at(NOW):
        rep_kpis = [k.title for k in dashboard_kpis(user=world["alice"])]
    assert "MRR" not in rep_kpis and len(rep_kpis) == 4


def test_the_call_first_queue_is_hot_then_warm_and_a_reps_own(world, django_assert_num_queries):
    with django_assert_num_queries(2):  # the rep's role, then the queue
        assert [lead.pk for lead in hot_lead_queue(user=world["alice"])] == [world["a1"].pk, world["a2"].pk]
    assert world["b1"].pk not in [lead.pk for lead in hot_lead_queue(user=world["admin"])]  # paid


def test_unread_notifications_are_the_viewers_own(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert [n.text for n in unread_notifications(user=world["alice"])] == ["a1 is hot"]
    assert unread_notifications(user=world["bob"]) == []
    assert Notification.objects.count() == 2


def test_rep_performance_counts_this_month_only(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = rep_performance(since=NOVEMBER)
    assert rows == [
        {"rep": rows[0]["rep"], "leads": 2, "hot": 1, "replies": 1, "won": 0},
        {"rep": rows[1]["rep"], "leads": 0, "hot": 1, "replies": 1, "won": 1},
    ]
    assert [row["rep"] for row in rows] == [world["alice"].get_full_name() or "alice",
                                           world["bob"].get_full_name() or "bob"]
    all_time = rep_performance(since=datetime(2000, 1, 1, tzinfo=UTC))
    assert (all_time[0]["leads"], all_time[0]["replies"]) == (3, 2)
