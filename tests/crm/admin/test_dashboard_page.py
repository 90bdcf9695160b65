"""The dashboard page: the date range and rep filter, every number linked to the admin list whose
count is that number, a rep's own dashboard with nothing company-wide, bounded queries."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from urllib.parse import urlparse

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from crm.models import Lead, Message, RollupSource
from crm.services.rollups import rollups_refresh
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
NOW = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 20:30 on 30 November in New York
LATE_NOV = NOW - timedelta(hours=2)
OCTOBER_LAST = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)  # 23:00 on 31 October in New York


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def created(obj, when):
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)
    return obj


@pytest.fixture
def world():
    alice, bob = RepUserFactory(username="alice"), RepUserFactory(username="bob")
    a1 = created(LeadFactory(assigned_rep=alice, status=Lead.Status.REPLIED, last_contacted_at=LATE_NOV,
                             hot_at=LATE_NOV, priority=Lead.Priority.HOT), LATE_NOV)
    created(LeadFactory(assigned_rep=alice, status=Lead.Status.CONTACTED, last_contacted_at=LATE_NOV), LATE_NOV)
    created(LeadFactory(assigned_rep=alice), OCTOBER_LAST)
    b1 = created(LeadFactory(assigned_rep=bob, status=Lead.Status.PAID), LATE_NOV)
    created(LeadFactory(assigned_rep=bob, status=Lead.Status.ENGAGED, hot_at=LATE_NOV,
                        priority=Lead.Priority.HOT), OCTOBER_LAST)
    for status in ("sent", "delivered", "failed"):
        created(MessageFactory(lead=a1, status=status), LATE_NOV)
    created(MessageFactory(lead=a1, direction=Message.Direction.INBOUND, status="received"), LATE_NOV)
    created(MessageFactory(lead=b1, direction=Message.Direction.INBOUND, status="received"), OCTOBER_LAST)
    created(PreviewEventFactory(lead=a1), LATE_NOV)
    client = created(ClientFactory(lead=b1, rep=bob), LATE_NOV)
    SubscriptionFactory(client=client, amount_cents=9900)
    SubscriptionFactory(client=client, amount_cents=2000, status="canceled", canceled_at=LATE_NOV)
    TransactionFactory(client=client, kind="setup", amount_cents=49900, occurred_at=LATE_NOV)
    TransactionFactory(client=client, kind="subscription", amount_cents=9900, occurred_at=OCTOBER_LAST)
    TargetFactory(metric="leads", period="month", period_start=datetime(2026, 11, 1).date(), goal=6, rep=None)
    TargetFactory(metric="leads", period="month", period_start=datetime(2026, 11, 1).date(), goal=4, rep=alice)
    return {"alice": alice, "bob": bob}


def _kpis(response) -> dict:
    return {k.key: k for k in response.context["kpis"]}


def _list_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


def _number(text: str) -> int:
    return int(text.replace("$", "").replace(",", "").split(".")[0])


def test_the_admin_sees_the_month_and_each_kpi_opens_the_list_with_that_count(admin_client, world):
    response = admin_client.get(reverse("admin:index"))
    kpis = _kpis(response)
    assert (kpis["new"].value, kpis["new"].previous, kpis["new"].percent) == ("3", "2", 50)
    assert (kpis["contacted"].value, kpis["hot"].value, kpis["churn"].value) == ("2", "2", "1")
    assert kpis["reply_rate"].value == "50%"  # 1 reply to 2 texts sent (the failed one is not sent)
    assert kpis["revenue"].value == "$499.00" and kpis["mrr"].value == "$99.00"
    for key in ("new", "contacted", "hot", "churn", "new_clients"):
        assert _list_count(admin_client, kpis[key].href) == _number(kpis[key].value), key
    texts = response.context["texts"]
    assert _list_count(admin_client, texts.links["replies"]) == texts.replies == 1
    assert _list_count(admin_client, texts.links["sent"]) == texts.sent == 2
    assert _list_count(admin_client, texts.links["failed"]) == texts.failed == 1
    assert _list_count(admin_client, kpis["revenue"].href) == 1
    for stage in response.context["funnel"]:
        assert _list_count(admin_client, stage["url"]) == stage["count"], stage["key"]
    assert [s["count"] for s in response.context["funnel"]] == [3, 3, 2, 2, 1]
    views = response.context["views"]
    assert sum(_list_count(admin_client, d["url"]) for d in views if d["views"]) == 1
    assert response.context["rep_rows"] and response.context["mrr_chart"]


def test_another_range_changes_the_numbers(admin_client, world):
    last_month = _kpis(admin_client.get(reverse("admin:index"), {"range": "last_month"}))
    assert last_month["new"].value == "2" and last_month["new"].percent is None  # no goal outside this month
    custom = admin_client.get(reverse("admin:index"), {"start": "2026-10-31", "end": "2026-10-31"})
    assert _kpis(custom)["new"].value == "2" and custom.context["period"].days == 1
    bad = admin_client.get(reverse("admin:index"), {"start": "2026-11-05", "end": "2026-11-01"})
    assert "on or before" in bad.content.decode()


def test_the_rep_filter_shows_one_reps_numbers_and_links(admin_client, world):
    response = admin_client.get(reverse("admin:index"), {"rep": world["alice"].pk})
    kpis = _kpis(response)
    assert (kpis["new"].value, kpis["hot"].value, kpis["revenue"].value) == ("2", "1", "$0.00")
    assert kpis["new"].percent == 50  # alice's own target of 4
    for key in ("new", "contacted", "hot", "churn", "new_clients"):
        assert _list_count(admin_client, kpis[key].href) == _number(kpis[key].value), key
    assert _list_count(admin_client, response.context["texts"].links["replies"]) == 1
    assert "rep_rows" not in response.context  # the team table is for the whole team


def test_a_rep_sees_only_their_own(world):
    client = Client()
    client.force_login(world["alice"])
    response = client.get(reverse("admin:index"), {"rep": world["bob"].pk})  # ignored for a rep
    kpis = _kpis(response)
    assert set(kpis) == {"new", "contacted", "reply_rate", "hot"}
    assert (kpis["new"].value, kpis["new"].percent, kpis["hot"].value) == ("2", 50, "1")
    for key in ("new", "contacted", "hot"):
        assert _list_count(client, kpis[key].href) == _number(kpis[key].value), key
    context = response.context
    assert context["queue_counts"]["hot"] == 1 and len(context["earnings"]) == 3
    for company_wide in ("rep_rows", "mrr_chart", "revenue_rows", "views", "reps"):
        assert company_wide not in context
    page = response.content.decode()
    assert "bob" not in page and "Revenue by type" not in page


@pytest.mark.parametrize("extra", [0, 30])
def test_queries_are_bounded_whatever_the_data(admin_client, world, extra, django_assert_max_num_queries):
    for _ in range(extra):
        created(LeadFactory(assigned_rep=world["alice"], hot_at=LATE_NOV, priority="HOT"), LATE_NOV)
    with django_assert_max_num_queries(12):  # issue 13: at most 15, whatever the data size
        admin_client.get(reverse("admin:index"), {"range": "30d"})
    with django_assert_max_num_queries(12):
        admin_client.get(reverse("admin:index"), {"rep": world["alice"].pk})
    client = Client()
    client.force_login(world["alice"])
    with django_assert_max_num_queries(15):
        client.get(reverse("admin:index"))


def test_links_carry_utc_instants_of_new_york_midnights(admin_client, world):
    href = _kpis(admin_client.get(reverse("admin:index")))["new"].href
    assert "created_at__gte=2026-11-01T04%3A00%3A00%2B00%3A00" in urlparse(href).query


def test_the_numbers_are_the_same_once_the_activity_is_pre_counted(admin_client, world):
    def shown(client, **params):
        response = client.get(reverse("admin:index"), params)
        texts = response.context.get("texts")
        return ({k.key: (k.value, k.previous) for k in response.context["kpis"]},
                [(d["day"], d["sent"], d["replies"]) for d in texts.days] if texts else None,
                [(d["day"], d["views"]) for d in response.context.get("views") or []])

    rep = Client()
    rep.force_login(world["alice"])
    before = [shown(admin_client), shown(admin_client, range="90d"), shown(admin_client, rep=world["bob"].pk),
              shown(rep)]
    rollups_refresh()
    assert RollupSource.objects.filter(watermark__gt=0).count() == 3
    assert [shown(admin_client), shown(admin_client, range="90d"), shown(admin_client, rep=world["bob"].pk),
            shown(rep)] == before
