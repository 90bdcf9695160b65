"""Round-robin assignment: even spread, away reps skipped, weights, the timeline record, and two
imports at once (on PostgreSQL, in two threads with their own connections)."""

import threading
from collections import Counter

import pytest
from django.db import connection

from crm.models import CompanySettings, Lead, RepProfile, TimelineEvent
from crm.services import assignment
from crm.services.assignment import lead_round_robin, leads_round_robin, rep_set_availability
from crm.services.hot_leads import lead_mark_hot
from crm.services.leads import lead_bulk_assign
from tests.crm.services.imports.support import HEADER, csv_bytes, import_now, lead_rows
from tests.factories import AdminUserFactory, LeadFactory, RepUserFactory


def _reps(n: int) -> list:
    return [RepUserFactory() for _ in range(n)]


def _new_leads(n: int) -> None:
    Lead.objects.bulk_create([Lead(business_name=f"New {i}", phone=f"+1555900{i:04d}") for i in range(n)])


def _spread() -> Counter:
    return Counter(Lead.objects.exclude(assigned_rep=None).values_list("assigned_rep", flat=True))


@pytest.mark.django_db
def test_a_thousand_new_leads_spread_evenly_over_available_reps_skipping_away_ones():
    available = _reps(3)
    away = RepUserFactory()
    rep_set_availability(rep=away, available=False)
    inactive = RepUserFactory()
    RepProfile.objects.filter(user=inactive).update(is_active=False)
    _new_leads(1000)

    assert leads_round_robin(leads=Lead.objects.all()) == 1000

    spread = _spread()
    assert set(spread) == {rep.pk for rep in available}
    assert max(spread.values()) - min(spread.values()) <= 1
    assert sum(RepProfile.objects.filter(user__in=available).values_list("assigned_count", flat=True)) == 1000
    events = TimelineEvent.objects.filter(kind=TimelineEvent.Kind.ASSIGNED)
    assert events.count() == 1000 and events.values("lead").distinct().count() == 1000
    event = events.select_related("lead__assigned_rep").first()
    assert event.data["from"] is None and event.data["to"] == event.lead.assigned_rep.username
    assert event.actor is None and event.data["via"] == "round-robin"


@pytest.mark.django_db
def test_weights_share_leads_in_proportion():
    one, three = _reps(2)
    RepProfile.objects.filter(user=three).update(assignment_weight=3)
    _new_leads(400)
    leads_round_robin(leads=Lead.objects.all())
    assert _spread() == {one.pk: 100, three.pk: 300}


@pytest.mark.django_db
def test_nobody_available_leaves_leads_unassigned_and_assigned_leads_are_kept():
    rep = RepUserFactory()
    kept = LeadFactory(assigned_rep=rep)
    rep_set_availability(rep=rep, available=False)
    _new_leads(5)
    assert leads_round_robin(leads=Lead.objects.all()) == 0
    assert Lead.objects.filter(assigned_rep=None).count() == 5
    rep_set_availability(rep=rep, available=True)
    assert leads_round_robin(leads=Lead.objects.all()) == 5
    kept.refresh_from_db()
    assert kept.assigned_rep == rep and not TimelineEvent.objects.filter(lead=kept).exists()


@pytest.mark.django_db
def test_a_rep_back_from_away_rejoins_the_rotation_not_its_front():
    steady, returning = _reps(2)
    rep_set_availability(rep=returning, available=False)
    _new_leads(300)
    leads_round_robin(leads=Lead.objects.all())
    rep_set_availability(rep=returning, available=True)
    assert RepProfile.objects.get(user=returning).assigned_count == 300
    Lead.objects.bulk_create([Lead(business_name=f"More {i}", phone=f"+1555700{i:04d}") for i in range(10)])
    leads_round_robin(leads=Lead.objects.all())
    assert _spread()[returning.pk] == 5


@pytest.mark.django_db
def test_a_hot_lead_without_a_rep_gets_one_and_the_rep_is_told():
    AdminUserFactory()
    rep = RepUserFactory()
    lead = LeadFactory(assigned_rep=None)
    assert lead_mark_hot(lead=lead, trigger="click")
    lead.refresh_from_db()
    assert lead.assigned_rep == rep
    assert list(lead.notifications.values_list("recipient", flat=True)) == [rep.pk]
    assert TimelineEvent.objects.get(lead=lead, kind="assigned").data["via"] == "round-robin: hot lead without a rep"


@pytest.mark.django_db
def test_auto_assign_off_leaves_hot_and_imported_leads_alone(admin_user):
    RepUserFactory()
    CompanySettings.objects.filter(pk=CompanySettings.load().pk).update(auto_assign_leads=False, default_region="US")
    lead = LeadFactory(assigned_rep=None)
    lead_mark_hot(lead=lead, trigger="click")
    import_now(csv_bytes([HEADER, *lead_rows(20)]), "leads.csv", admin_user)
    assert not Lead.objects.exclude(assigned_rep=None).exists()


@pytest.mark.django_db
def test_an_import_assigns_its_new_leads_round_robin(admin_user):
    CompanySettings.objects.filter(pk=CompanySettings.load().pk).update(default_region="US")
    reps = _reps(3)
    already = LeadFactory(phone="+12123000000", assigned_rep=reps[0])  # row 0 updates it; it keeps its rep
    batch = import_now(csv_bytes([HEADER, *lead_rows(31)]), "leads.csv", admin_user, mode="overwrite")
    assert batch.created_count == 30
    assert Lead.objects.filter(source_batch=batch, assigned_rep=None).count() == 0
    spread = Counter(Lead.objects.filter(source_batch=batch).values_list("assigned_rep", flat=True))
    assert sorted(spread.values()) == [10, 10, 10]
    already.refresh_from_db()
    assert already.assigned_rep == reps[0]
    assert TimelineEvent.objects.get(lead__source_batch=batch, kind="assigned", lead__phone="+12123000001").data[
        "via"] == f"round-robin: import #{batch.pk}"


@pytest.mark.django_db
def test_bulk_assign_records_from_to_and_who():
    admin = AdminUserFactory()
    ann, bob = _reps(2)
    moved = [LeadFactory(assigned_rep=ann) for _ in range(2)] + [LeadFactory(assigned_rep=None)]
    stays = LeadFactory(assigned_rep=bob)
    changed = lead_bulk_assign(leads=Lead.objects.filter(pk__in=[lead.pk for lead in [*moved, stays]]), rep=bob,
                               actor=admin)
    assert {lead.pk for lead in changed} == {lead.pk for lead in moved}
    events = {e.lead_id: e for e in TimelineEvent.objects.filter(kind="assigned")}
    assert set(events) == {lead.pk for lead in moved}
    assert events[moved[0].pk].data == {"from": ann.username, "to": bob.username, "rep": bob.username,
                                        "via": "assigned by hand"}
    assert events[moved[2].pk].data["from"] is None and events[moved[2].pk].actor == admin


@pytest.mark.django_db
def test_lead_round_robin_skips_a_lead_that_got_a_rep_meanwhile():
    rep = RepUserFactory()
    lead = LeadFactory(assigned_rep=None)
    Lead.objects.filter(pk=lead.pk).update(assigned_rep=rep)
    assert lead_round_robin(lead=lead, via="test") is None


@pytest.mark.django_db(transaction=True)
def test_two_imports_at_once_stay_even_and_assign_each_lead_once(monkeypatch):
    """Two imports of 600 new leads each, at the same moment, chunks of 50 interleaving: the three
    reps end with 400 each (+-1) and no lead has two ASSIGNED events."""
    monkeypatch.setattr(assignment, "ASSIGN_CHUNK", 50)
    company = CompanySettings.load()
    company.default_region = "US"
    company.save()
    admin = AdminUserFactory()
    reps = _reps(3)
    files = [csv_bytes([HEADER, *lead_rows(600, start)]) for start in (0, 600)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(data: bytes) -> None:
        try:
            start.wait(timeout=30)
            import_now(data, "leads.csv", admin)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()  # this thread's own connection

    if connection.vendor == "postgresql":
        threads = [threading.Thread(target=run, args=(data,)) for data in files]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    else:  # SQLite has one writer: one after the other
        start = threading.Barrier(1)
        for data in files:
            run(data)

    assert not errors, errors
    spread = _spread()
    assert sum(spread.values()) == 1200 and Lead.objects.filter(assigned_rep=None).count() == 0
    assert set(spread) == {rep.pk for rep in reps}
    assert max(spread.values()) - min(spread.values()) <= 1
    assert sorted(RepProfile.objects.filter(user__in=reps).values_list("assigned_count", flat=True)) == sorted(
        spread.values())
    per_lead = Counter(TimelineEvent.objects.filter(kind="assigned").values_list("lead", flat=True))
    assert len(per_lead) == 1200 and set(per_lead.values()) == {1}
