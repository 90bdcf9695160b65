"""The Revenue page (admins only, charts, a bounded number of queries), its "Propose upsell"
button, and the rep's "My earnings" page (their own commissions only)."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import Commission, Subscription, Upsell
from crm.services.billing.mrr import mrr_change_record
from tests.factories import (
    ClientFactory,
    CommissionFactory,
    LeadFactory,
    MessageFactory,
    SubscriptionFactory,
    TransactionFactory,
)

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
NOW = datetime(2026, 4, 20, 16, 0, tzinfo=UTC)
REVENUE_URL = "/admin/revenue/"
EARNINGS_URL = "/admin/earnings/"


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def paying_client(*, amount: int, started: datetime, rep=None, plan: str = "Hosting & care", n: int = 0):
    lead = LeadFactory(assigned_rep=rep)
    client = ClientFactory(lead=lead, rep=rep, name=f"Paying {n} {amount}")
    sub = SubscriptionFactory(client=client, amount_cents=amount, plan_name=plan, started_at=started)
    mrr_change_record(subscription=sub, occurred_at=started, source=f"test:{sub.pk}")
    TransactionFactory(client=client, subscription=sub, kind="subscription", amount_cents=amount, occurred_at=started)
    MessageFactory(lead=lead)  # a recent text: not "no contact"
    return client


def book(count: int, rep=None) -> None:
    for i in range(count):
        paying_client(amount=9_900 if i % 3 else 14_900, started=NOW - timedelta(days=100 + i),
                      rep=rep, plan="Hosting & care" if i % 3 else "Hosting & care plus", n=i)


def test_admin_sees_the_page_with_numbers_and_charts(admin_client):
    book(3)

    response = admin_client.get(REVENUE_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kpi="MRR">$347.00<' in html  # 14,900 + 9,900 + 9,900
    assert 'data-kpi="ARR (MRR x 12)">$4,164.00<' in html
    assert html.count('class="chart"') == 4
    assert 'data-type="bar"' in html and 'data-type="line"' in html
    for section in ("revenue-table", "movement-table", "projection-table", "projection-inputs", "upsell-table"):
        assert f'id="{section}"' in html
    assert "Historical conversion" in html and "Churn rate" in html


def test_a_rep_gets_403_and_no_sidebar_item(rep_client):
    assert rep_client.get(REVENUE_URL).status_code == 403
    assert rep_client.post(reverse("crm_revenue_upsell", args=[1])).status_code == 403

    index = rep_client.get("/admin/").content.decode()
    assert REVENUE_URL not in index
    assert EARNINGS_URL in index


def test_the_admin_sidebar_links_the_revenue_page(admin_client):
    index = admin_client.get("/admin/").content.decode()

    assert REVENUE_URL in index
    assert EARNINGS_URL not in index


def test_anonymous_visitors_are_sent_to_sign_in():
    response = HttpClient().get(REVENUE_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_number_of_queries_does_not_grow_with_clients(admin_client, django_assert_max_num_queries):
    book(2)
    admin_client.get(REVENUE_URL)  # the first request of a session reads a few things once
    with django_assert_max_num_queries(21) as few:
        assert admin_client.get(REVENUE_URL).status_code == 200
    book(12)
    with django_assert_max_num_queries(21) as many:
        assert admin_client.get(REVENUE_URL).status_code == 200

    assert len(many.captured_queries) == len(few.captured_queries)


def test_propose_upsell_button_creates_one_upsell(admin_client):
    book(3)
    candidate = paying_client(amount=9_900, started=NOW - timedelta(days=200), n=99)

    page = admin_client.get(REVENUE_URL).content.decode()
    assert reverse("crm_revenue_upsell", args=[candidate.pk]) in page

    response = admin_client.post(reverse("crm_revenue_upsell", args=[candidate.pk]), follow=True)
    again = admin_client.post(reverse("crm_revenue_upsell", args=[candidate.pk]), follow=True)

    upsell = Upsell.objects.get(client=candidate)
    assert (upsell.amount_cents, upsell.status, upsell.recurring) == (5_000, Upsell.Status.PROPOSED, True)
    assert "Upsell proposed to" in response.content.decode()
    assert "No upsell proposed" in again.content.decode()
    assert Upsell.objects.count() == 1


def test_propose_upsell_only_by_post(admin_client):
    candidate = paying_client(amount=9_900, started=NOW - timedelta(days=200))

    assert admin_client.get(reverse("crm_revenue_upsell", args=[candidate.pk])).status_code == 405
    assert not Upsell.objects.exists()


def test_a_rep_sees_only_their_own_earnings(rep_user, rep_client, other_rep):
    mine = CommissionFactory(rep=rep_user, amount_cents=4_990, status=Commission.Status.PENDING)
    CommissionFactory(rep=rep_user, transaction=mine.transaction, kind=Commission.Kind.REFUND_CLAWBACK,
                      amount_cents=-1_000, status=Commission.Status.APPROVED)
    CommissionFactory(rep=other_rep, amount_cents=777_700, status=Commission.Status.PAID)

    response = rep_client.get(EARNINGS_URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert "$49.90" in html and "-$10.00" in html and "$39.90" in html
    assert "$7,777.00" not in html
    assert html.count('class="chart"') == 1


def test_the_other_rep_sees_theirs_not_the_first(rep_user, other_rep):
    CommissionFactory(rep=rep_user, amount_cents=4_990)
    CommissionFactory(rep=other_rep, amount_cents=777_700, status=Commission.Status.PAID)
    client = HttpClient()
    client.force_login(other_rep)

    html = client.get(EARNINGS_URL).content.decode()

    assert "$7,777.00" in html
    assert "$49.90" not in html


def test_admins_have_no_earnings_page(admin_client):
    assert admin_client.get(EARNINGS_URL).status_code == 403


def test_past_due_client_is_listed_as_at_risk(admin_client):
    client = paying_client(amount=9_900, started=NOW - timedelta(days=40))
    Subscription.objects.filter(client=client).update(status=Subscription.Status.PAST_DUE)

    html = admin_client.get(REVENUE_URL).content.decode()

    assert 'id="risk-table"' in html
    assert "Payment failing: a subscription is past due" in html
    assert "40/100" in html


def test_the_page_works_on_an_empty_database(admin_client):
    response = admin_client.get(REVENUE_URL)

    assert response.status_code == 200
    assert 'data-kpi="MRR">$0.00<' in response.content.decode()
