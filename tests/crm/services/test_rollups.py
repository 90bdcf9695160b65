"""The dashboard's pre-counted activity is exact: the stored slots plus the live rows above the
watermark equal a recount of the rows, made here apart from the product's code (each row put in
its local day by Python's zoneinfo), on a fixed data set spanning a DST change: after a refresh,
after new rows arrive, after the next refresh, after a lead changes rep, after a counted row is
deleted, and in a zone 5:45 from UTC. The stored counts themselves equal a rebuild from scratch."""

import threading
from collections import Counter
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from crm.models import ActivityCount, Lead, Message, PreviewEvent, RollupLeadMove, RollupSource
from crm.selectors.date_ranges import date_range_from_params
from crm.selectors.reporting import FAILED_STATUSES, SENT_STATUSES, dashboard_report
from crm.services.leads import lead_bulk_assign
from crm.services.rollups import rollups_refresh
from tests.factories import LeadFactory, MessageFactory, PreviewEventFactory, RepUserFactory

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # noon in New York; EDT ended on 1 November
STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "canceled")


@pytest.fixture(autouse=True)
def clock():
    with timezone.override(NY), time_machine.travel(NOW, tick=False):
        yield


def created(obj, when):
    type(obj).objects.filter(pk=obj.pk).update(created_at=when)
    return obj


def activity(alice, bob, *, start: datetime, hours: int, step: int = 7):
    """Leads, texts (every status, both ways) and preview events, one set every `step` hours
    from `start`, alternating between the two reps and nobody."""
    for i in range(0, hours, step):
        when = start + timedelta(hours=i, minutes=(i * 13) % 60)
        lead = created(LeadFactory(assigned_rep=(alice, bob, None)[i % 3]), when)
        created(MessageFactory(lead=lead, status=STATUSES[i % len(STATUSES)]), when)
        created(MessageFactory(lead=lead, direction=Message.Direction.INBOUND, status="received"),
                when + timedelta(minutes=5))
        created(PreviewEventFactory(lead=lead), when + timedelta(minutes=9))
        created(PreviewEventFactory(lead=lead, kind="ping"), when + timedelta(minutes=10))


@pytest.fixture
def world():
    alice, bob = RepUserFactory(username="alice"), RepUserFactory(username="bob")
    # From 10 October (EDT) to 20 November (EST): this month, the month before and its change.
    activity(alice, bob, start=datetime(2026, 10, 10, 3, 0, tzinfo=UTC), hours=41 * 24)
    return {"alice": alice, "bob": bob}


def recount(period, rep=None) -> dict:
    """Per local day of `period` (and "before" for the period before): leads created, texts sent,
    delivered, failed and in, preview views; counted row by row in Python."""
    tz = timezone.get_current_timezone()
    first = period.previous.start

    def day_of(moment):
        return "before" if moment < period.start else moment.astimezone(tz).date()

    def mine(lead) -> bool:
        return rep is None or lead.assigned_rep_id == rep.pk

    counts: dict = {}
    for lead in Lead.objects.filter(created_at__gte=first, created_at__lt=period.end):
        if mine(lead):
            counts.setdefault(day_of(lead.created_at), Counter())["new"] += 1
    for text in Message.objects.filter(created_at__gte=first, created_at__lt=period.end).select_related("lead"):
        if mine(text.lead):
            day = counts.setdefault(day_of(text.created_at), Counter())
            if text.direction == Message.Direction.INBOUND:
                day["replies"] += 1
            else:
                day["sent"] += text.status in SENT_STATUSES
                day["delivered"] += text.status == Message.Status.DELIVERED
                day["failed"] += text.status in FAILED_STATUSES
    for event in PreviewEvent.objects.filter(created_at__gte=first, created_at__lt=period.end,
                                             kind=PreviewEvent.Kind.VIEW).select_related("lead"):
        if mine(event.lead):
            counts.setdefault(day_of(event.created_at), Counter())["views"] += 1
    return counts


def shown(period, rep=None) -> dict:
    """The same numbers as the dashboard's report gives them."""
    report = dashboard_report(period=period, rep_id=rep.pk if rep else None, views=True)
    counts: dict = {}
    for day in report.texts.days:
        counts[day["day"]] = Counter({k: day[k] for k in ("sent", "delivered", "failed", "replies")})
    for day in report.views:
        counts[day["day"]]["views"] = day["views"]
    counts["before"] = Counter(sent=report.texts.sent_previous, replies=report.texts.replies_previous,
                               new=report.leads.new_previous)
    new_by_day = recount(period, rep)  # new leads are shown as one total: compare the total
    assert report.leads.new == sum(c["new"] for day, c in new_by_day.items() if day != "before")
    return {day: +c for day, c in counts.items() if +c}


def expected(period, rep=None) -> dict:
    counts = recount(period, rep)
    for day, c in counts.items():
        c.pop("new", None) if day != "before" else [c.pop(k, None) for k in ("delivered", "failed", "views")]
    return {day: +c for day, c in counts.items() if +c}


def assert_exact(world, presets=("this_month", "30d", "7d")):
    for preset in presets:
        period = date_range_from_params({"range": preset}, now=NOW)
        for rep in (None, world["alice"], world["bob"]):
            assert shown(period, rep) == expected(period, rep), (preset, rep)


def stored() -> set:
    return set(ActivityCount.objects.values_list("metric", "rep_id", "slot", "rows"))


def rebuilt() -> set:
    RollupSource.objects.update(dirty=True)
    while set(rollups_refresh().values()) != {"unchanged"}:
        pass
    return stored()


def test_counts_are_exact_after_a_refresh_new_rows_and_the_next_refresh(world, django_assert_num_queries):
    assert_exact(world)  # nothing counted yet: every row live
    assert all(outcome.startswith("started again; counted") for outcome in rollups_refresh().values())
    assert ActivityCount.objects.exists() and not RollupSource.objects.filter(watermark=0).exists()
    assert_exact(world)
    with django_assert_num_queries(4):
        dashboard_report(period=date_range_from_params({}, now=NOW), views=True)
    activity(world["alice"], world["bob"], start=NOW - timedelta(hours=30), hours=30, step=5)  # above the watermark
    assert_exact(world)
    assert all(outcome.startswith("counted") for outcome in rollups_refresh().values())
    assert_exact(world)
    assert set(rollups_refresh().values()) == {"unchanged"}
    assert stored() == rebuilt()


def test_a_lead_given_to_another_rep_moves_its_counted_rows_at_once(world):
    rollups_refresh()
    moving = Lead.objects.filter(assigned_rep=world["alice"], messages__isnull=False).distinct()[:3]
    lead_bulk_assign(leads=Lead.objects.filter(pk__in=[lead.pk for lead in moving]), rep=world["bob"], actor=None)
    Lead.objects.filter(pk=moving[0].pk).update(assigned_rep=None)  # and on: first logged rep counts
    assert RollupLeadMove.objects.count() == 4
    assert_exact(world)
    assert rollups_refresh()[RollupSource.Name.MESSAGES].startswith("moved")
    assert not RollupLeadMove.objects.exists()
    assert_exact(world)
    assert stored() == rebuilt()


def test_a_counted_row_deleted_makes_its_source_dirty_and_the_next_refresh_rebuilds_it(world):
    rollups_refresh()
    Message.objects.filter(pk=Message.objects.order_by("pk").values("pk")[:1]).delete()
    PreviewEvent.objects.filter(kind=PreviewEvent.Kind.VIEW).order_by("pk").first().delete()
    assert set(RollupSource.objects.filter(dirty=True).values_list("name", flat=True)) == {"messages", "previews"}
    assert_exact(world)
    outcome = rollups_refresh()
    assert outcome["messages"].startswith("started again; counted") and outcome["leads"] == "unchanged"
    assert outcome["previews"].startswith("started again; counted")
    assert not RollupSource.objects.filter(dirty=True).exists()
    assert_exact(world)
    newest = Message.objects.order_by("-pk").first()
    newest.delete()  # above nothing: the newest rows are counted, so this one dirties too
    assert RollupSource.objects.get(name="messages").dirty


def test_a_large_backlog_is_counted_a_chunk_per_run_and_exact_at_every_step(world, monkeypatch):
    monkeypatch.setattr("crm.services.rollups.CHUNK", 40)
    runs = 0
    while set(rollups_refresh().values()) != {"unchanged"}:
        runs += 1
        assert_exact(world, presets=("30d",))
    assert runs > Message.objects.count() // 40
    assert RollupSource.objects.get(name="messages").watermark == Message.objects.order_by("-pk").first().pk
    assert stored() == rebuilt()


def test_a_row_above_the_watermark_deleted_leaves_the_counts_trusted(world):
    rollups_refresh()
    extra = MessageFactory(lead=Lead.objects.first())
    extra.delete()
    assert not RollupSource.objects.filter(dirty=True).exists()
    assert_exact(world)


def test_local_days_in_a_zone_a_quarter_hour_off_the_hour(world):
    rollups_refresh()
    with timezone.override(ZoneInfo("Asia/Kathmandu")):  # UTC+5:45
        assert_exact(world)


def test_the_triggers_are_in_place_after_every_migration():
    """SQLite drops a table's triggers when a migration rebuilds the table: a migration after
    0019 that does so must create them again (crm/migrations/0019_dashboard_rollups.py)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE tgname LIKE 'crm_rollup%%'")
            found = set(cursor.fetchall())
            assert found == {("crm_lead", "crm_rollup_lead_moved"), ("crm_lead", "crm_rollup_deleted"),
                             ("crm_message", "crm_rollup_deleted"), ("crm_previewevent", "crm_rollup_deleted")}
        else:
            cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'crm_rollup%'")
            found = set(cursor.fetchall())
            assert found == {("crm_lead", "crm_rollup_lead_moved"), ("crm_lead", "crm_rollup_leads_deleted"),
                             ("crm_message", "crm_rollup_messages_deleted"),
                             ("crm_previewevent", "crm_rollup_previews_deleted")}


@pytest.mark.django_db(transaction=True)
def test_the_watermark_never_passes_a_row_whose_transaction_is_still_open():
    """Ids are taken before commit: a row with a lower id can become visible after a higher one.
    The refresh waits for every transaction open when it saw the higher id."""
    lead = LeadFactory()
    rollups_refresh()
    if connection.vendor != "postgresql":  # SQLite: one writer at a time, so what is visible is settled
        newest = MessageFactory(lead=lead)
        rollups_refresh()
        assert RollupSource.objects.get(name="messages").watermark == newest.pk
        return
    inserted, finish = threading.Event(), threading.Event()
    hidden = {}

    def open_transaction():
        with transaction.atomic():
            hidden["pk"] = MessageFactory(lead=lead).pk
            inserted.set()
            finish.wait(timeout=30)
        connection.close()

    writer = threading.Thread(target=open_transaction)
    writer.start()
    try:
        assert inserted.wait(timeout=30)
        later = MessageFactory(lead=lead)  # committed, with the higher id
        assert later.pk > hidden["pk"]
        rollups_refresh()
        assert RollupSource.objects.get(name="messages").watermark < hidden["pk"]
    finally:
        finish.set()
        writer.join()
    rollups_refresh()
    assert RollupSource.objects.get(name="messages").watermark == later.pk
    texts = dashboard_report(period=date_range_from_params({}, now=NOW)).texts
    assert texts.sent == Message.objects.filter(status__in=SENT_STATUSES).count() == 2
