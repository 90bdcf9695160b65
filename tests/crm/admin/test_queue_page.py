"""The "My queue" page, its refresh endpoint, the availability switch and the "Assign to" action."""

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.models import Lead, Message, RepProfile, TimelineEvent
from crm.services.reply_waiting import reply_waiting_start
from tests.crm.admin import admin_url
from tests.factories import LeadFactory, MessageFactory, RepUserFactory

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=dt_timezone.utc)
QUEUE = reverse("crm_my_queue")
ROWS = reverse("crm_my_queue_rows")
AVAILABILITY = reverse("crm_my_queue_availability")


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _hot(rep, minutes_ago=3, **kwargs):
    return LeadFactory(assigned_rep=rep, priority=Lead.Priority.HOT, hot_at=NOW - timedelta(minutes=minutes_ago),
                       **kwargs)


def _replied(lead, body="hi"):
    """A text from the lead, with what the inbound path does: its reply waits for an answer."""
    message = MessageFactory(lead=lead, direction=Message.Direction.INBOUND, status="received", body=body)
    reply_waiting_start(lead_id=lead.pk, at=message.created_at)
    return message


def _row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'class="queue-row[^"]*"[^>]*data-lead-id="(\d+)"', html, re.S)]


def test_a_rep_sees_their_own_queue_only(rep_client, rep_user, other_rep):
    mine = _hot(rep_user, business_name="Alpha Plumbing")
    _hot(other_rep, business_name="Bravo Roofing")
    for url in (QUEUE, f"{QUEUE}?rep={other_rep.pk}", f"{ROWS}?rep={other_rep.pk}"):
        response = rep_client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert _row_ids(html) == [mine.pk]
        assert "Bravo" not in html
    page = rep_client.get(QUEUE).content.decode()
    assert f'href="{admin_url(Lead, "change", mine.pk)}"' in page
    assert 'id="queue-rep-picker"' not in page  # reps pick nobody


def test_each_row_says_why_and_the_counts_are_on_top(rep_client, rep_user):
    hot = _hot(rep_user, minutes_ago=4)
    replied = LeadFactory(assigned_rep=rep_user, status=Lead.Status.REPLIED)
    _replied(replied, body="Call me")
    LeadFactory(assigned_rep=rep_user, next_action_at=NOW - timedelta(hours=1), next_action="Send quote")
    html = rep_client.get(QUEUE).content.decode()
    assert _row_ids(html)[0] == hot.pk
    assert re.search(r'data-count="hot">1<.*data-count="reply">1<.*data-count="callback">0<.*'
                     r'data-count="follow_up">1<', html, re.S)
    reasons = re.findall(r"<span[^>]*data-reason>([^<]*)</span>", html)
    assert reasons == ["Hot lead: alert 4 min ago, not called or texted yet",
                       "Replied 0 min ago, waiting for an answer: \u201cCall me\u201d",
                       "Follow-up due 1 h ago: Send quote"]
    assert f'data-since="{hot.hot_at.isoformat()}"' in html  # the speed-to-lead clock starts at the alert


def test_the_refresh_endpoint_shows_a_new_hot_lead_on_top(rep_client, rep_user):
    older = _hot(rep_user, minutes_ago=30)
    assert _row_ids(rep_client.get(f"{ROWS}?rep={rep_user.pk}").content.decode()) == [older.pk]
    newer = _hot(rep_user, minutes_ago=0)
    response = rep_client.get(f"{ROWS}?rep={rep_user.pk}")
    assert "no-store" in response["Cache-Control"]
    assert "<html" not in response.content.decode()  # a fragment, swapped into the page
    assert _row_ids(response.content.decode()) == [newer.pk, older.pk]


def test_the_page_polls_its_rows_without_outside_assets(rep_client, rep_user):
    html = rep_client.get(QUEUE).content.decode()
    assert f'data-rows-url="{ROWS}?rep={rep_user.pk}"' in html and 'data-poll-ms="1500"' in html
    assert "/static/crm/queue.js" in html
    assert not re.search(r'<script[^>]+src="https?://', html)


def test_an_admin_sees_every_rep_and_picks_one(admin_client, rep_user, other_rep):
    _hot(rep_user, business_name="Alpha Plumbing")
    bravo = _hot(other_rep, business_name="Bravo Roofing")
    overview = admin_client.get(QUEUE).content.decode()
    assert 'id="queue-rep-picker"' in overview and 'id="queue-reps"' in overview
    assert {int(pk) for pk in re.findall(r'data-rep-id="(\d+)"', overview)} == {rep_user.pk, other_rep.pk}
    picked = admin_client.get(f"{QUEUE}?rep={other_rep.pk}").content.decode()
    assert _row_ids(picked) == [bravo.pk]
    assert _row_ids(admin_client.get(f"{ROWS}?rep={other_rep.pk}").content.decode()) == [bravo.pk]
    assert admin_client.get(f"{ROWS}?rep=999999").status_code == 404


def test_the_numbers_load_apart_and_a_rep_gets_only_their_own(rep_client, rep_user, other_rep, admin_client):
    from crm.models import Call
    from tests.factories import CallFactory

    CallFactory(lead=LeadFactory(assigned_rep=rep_user), rep=rep_user, outcome=Call.Outcome.CONNECTED)
    for _ in range(3):
        CallFactory(lead=LeadFactory(assigned_rep=other_rep), rep=other_rep)
    page = rep_client.get(QUEUE).content.decode()
    numbers_url = f"{reverse('crm_my_queue_numbers')}?rep={rep_user.pk}"
    assert f'data-numbers-url="{numbers_url}"' in page
    for url in (numbers_url, f"{reverse('crm_my_queue_numbers')}?rep={other_rep.pk}"):
        html = rep_client.get(url).content.decode()
        assert re.search(r'data-number="calls">1<', html) and re.search(r'data-number="connects">1<', html)
    assert re.search(r'data-number="calls">3<', admin_client.get(
        f"{reverse('crm_my_queue_numbers')}?rep={other_rep.pk}").content.decode())


def test_nobody_else_opens_the_queue(client, db):
    assert client.get(QUEUE).status_code == 302  # to the login
    assert client.get(ROWS).status_code == 302
    assert client.get(reverse("crm_my_queue_numbers")).status_code == 302


def test_the_page_is_phone_safe(rep_client, rep_user):
    _hot(rep_user, business_name="A business with a very long name that has to wrap on a phone screen")
    html = rep_client.get(QUEUE).content.decode()
    live = html[html.index('id="queue-live"'):html.index('id="queue-numbers-box"')]
    assert "<table" not in live  # rows are blocks that wrap, never a wide table
    assert "overflow-wrap: anywhere" in html
    declared = re.sub(r"@media\s*\([^)]*\)", "", html)  # breakpoints for wider screens are not widths
    assert not re.search(r"width:\s*(39[1-9]|[4-9]\d\d|\d{4,})px", declared)  # nothing wider than 390 px
    assert re.search(r'name="viewport" content="width=device-width', html)


def test_the_rep_marks_themselves_away_and_back(rep_client, rep_user, admin_client):
    assert 'data-availability="available"' in rep_client.get(QUEUE).content.decode()
    response = rep_client.post(AVAILABILITY, {"available": "0"})
    assert response.status_code == 302 and response["Location"] == QUEUE
    assert RepProfile.objects.get(user=rep_user).is_available is False
    assert 'data-availability="away"' in rep_client.get(QUEUE).content.decode()
    rep_client.post(AVAILABILITY, {"available": "1"})
    assert RepProfile.objects.get(user=rep_user).is_available is True
    assert admin_client.post(AVAILABILITY, {"available": "0"}).status_code == 403  # admins use the profile
    assert rep_client.get(AVAILABILITY).status_code == 405


def test_my_queue_is_the_first_sidebar_item_and_the_dashboard_links_to_it(rep_client):
    index = rep_client.get(reverse("admin:index")).content.decode()
    assert 'id="dashboard-queue-link"' in index
    links = re.findall(r'href="(/admin/[^"]*)"', index[index.index("nav-sidebar") if "nav-sidebar" in index else 0:])
    assert QUEUE in links


def _page_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_page_queries_do_not_grow_with_the_queue(rep_client, rep_user):
    _hot(rep_user)
    small = _page_queries(rep_client, QUEUE), _page_queries(rep_client, ROWS)
    for i in range(30):
        _hot(rep_user, minutes_ago=i)
        replied = LeadFactory(assigned_rep=rep_user, status=Lead.Status.REPLIED)
        _replied(replied)
        LeadFactory(assigned_rep=rep_user, next_action_at=NOW - timedelta(minutes=i + 1))
    big = _page_queries(rep_client, QUEUE), _page_queries(rep_client, ROWS)
    assert small == big


# The "Assign to" action on the lead list.

def _assign(client, leads, rep_value, **extra):
    return client.post(admin_url(Lead, "changelist"), {
        "action": "assign_to", "_selected_action": [lead.pk for lead in leads], "apply": "1", "rep": rep_value,
        **extra,
    })


def test_assign_to_moves_a_thousand_leads_at_once_with_counts(admin_client, admin_user, rep_user, other_rep):
    Lead.objects.bulk_create([Lead(business_name=f"Lead {i}", phone=f"+1555600{i:04d}", assigned_rep=rep_user)
                              for i in range(1000)])
    Lead.objects.filter(pk__in=Lead.objects.order_by("pk").values("pk")[:10]).update(assigned_rep=other_rep)
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.post(admin_url(Lead, "changelist"), {
            "action": "assign_to", "select_across": "1", "_selected_action": [Lead.objects.first().pk],
            "apply": "1", "rep": str(other_rep.pk)})
    assert response.status_code == 302
    assert len(captured) < 40
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"990 lead(s) assigned to {other_rep.get_full_name()}; 10 already were."]
    assert Lead.objects.filter(assigned_rep=other_rep).count() == 1000
    event = TimelineEvent.objects.filter(kind="assigned").first()
    assert (event.data["from"], event.data["to"], event.actor) == (rep_user.username, other_rep.username, admin_user)
    assert TimelineEvent.objects.filter(kind="assigned").count() == 990


def test_assign_to_asks_for_the_rep_first_and_offers_round_robin(admin_client, rep_user, other_rep):
    lead = LeadFactory(assigned_rep=None)
    response = admin_client.post(admin_url(Lead, "changelist"),
                                 {"action": "assign_to", "_selected_action": [lead.pk]})
    assert response.status_code == 200
    assert "Round-robin among available reps" in response.content.decode()
    response = _assign(admin_client, [lead], "round_robin")
    lead.refresh_from_db()
    assert lead.assigned_rep in (rep_user, other_rep)
    response = _assign(admin_client, [lead], "nobody")
    lead.refresh_from_db()
    assert lead.assigned_rep is None


def test_reps_cannot_assign(rep_client, rep_user, other_rep):
    lead = LeadFactory(assigned_rep=rep_user)
    page = rep_client.get(admin_url(Lead, "changelist")).content.decode()
    assert 'value="assign_to"' not in page
    _assign(rep_client, [lead], str(other_rep.pk))
    lead.refresh_from_db()
    assert lead.assigned_rep == rep_user
    assert not TimelineEvent.objects.filter(kind="assigned").exists()


def test_admins_set_availability_and_weight_on_the_rep_profile(admin_client, rep_user):
    page = admin_client.get(admin_url(type(rep_user), "change", rep_user.pk)).content.decode()
    assert 'name="rep_profile-0-is_available"' in page and 'name="rep_profile-0-assignment_weight"' in page


def test_admins_switch_automatic_assignment_in_company_settings(admin_client):
    from crm.models import CompanySettings

    page = admin_client.get(admin_url(CompanySettings, "change", CompanySettings.load().pk)).content.decode()
    assert 'name="auto_assign_leads"' in page
