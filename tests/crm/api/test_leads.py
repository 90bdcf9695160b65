"""/api/v1/leads: a rep's token sees exactly the rep's rows; create goes through the import's
validation, dedupe and pipeline; changes leave timeline events; idempotency keys."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from crm.models import Lead, TimelineEvent
from crm.services.imports.batches import import_batch_confirm, import_batch_create
from tests.crm.api.conftest import api_for
from tests.factories import LeadFactory, MessageFactory


@pytest.fixture
def world(rep_user, other_rep):
    mine = [LeadFactory(business_name=f"Alpha {i}", assigned_rep=rep_user) for i in range(3)]
    theirs = [LeadFactory(business_name=f"Bravo {i}", assigned_rep=other_rep, city="Albany",
                          phone=f"+1212555{i:04d}") for i in range(3)]
    unassigned = LeadFactory(business_name="Bravo loose")
    for lead in mine + theirs:
        MessageFactory(lead=lead, body=f"text for {lead.business_name}")
    return {"mine": mine, "theirs": theirs, "unassigned": unassigned}


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["items"]}


def test_a_reps_token_never_sees_another_reps_row(rep_api, world, other_rep):
    mine = {lead.pk for lead in world["mine"]}
    assert _ids(rep_api.get("/leads")) == mine
    assert _ids(rep_api.get("/leads", assigned_rep_id=other_rep.pk)) == set()
    assert _ids(rep_api.get("/leads", search="Bravo")) == set()
    assert _ids(rep_api.get("/leads", search="(212) 555-0000")) == set()  # theirs[0]'s number
    assert _ids(rep_api.get("/leads", search="albany")) == set()
    for lead in world["theirs"] + [world["unassigned"]]:
        for response in (rep_api.get(f"/leads/{lead.pk}"), rep_api.get(f"/leads/{lead.pk}/messages"),
                         rep_api.patch(f"/leads/{lead.pk}", {"status": "LOST"}),
                         rep_api.post(f"/leads/{lead.pk}/messages", {"body": "hi"})):
            assert response.status_code == 404, response.content
            assert "Bravo" not in response.content.decode()
    assert not Lead.objects.filter(status="LOST").exists()
    own = world["mine"][0]
    assert rep_api.get(f"/leads/{own.pk}").json()["business_name"] == own.business_name
    thread = rep_api.get(f"/leads/{own.pk}/messages").json()["items"]
    assert [row["body"] for row in thread] == [f"text for {own.business_name}"]


def test_an_admins_token_sees_every_lead_and_filters(admin_api, world, other_rep):
    everyone = {lead.pk for lead in world["mine"] + world["theirs"]} | {world["unassigned"].pk}
    assert _ids(admin_api.get("/leads")) == everyone
    assert _ids(admin_api.get("/leads", assigned_rep_id=other_rep.pk)) == {lead.pk for lead in world["theirs"]}
    assert _ids(admin_api.get("/leads", search="(212) 555-0001")) == {world["theirs"][1].pk}
    assert _ids(admin_api.get("/leads", search="albany")) == {lead.pk for lead in world["theirs"]}
    world["mine"][0].status, world["mine"][0].priority = "ENGAGED", "HOT"
    world["mine"][0].save()
    assert _ids(admin_api.get("/leads", status="ENGAGED", priority="HOT")) == {world["mine"][0].pk}


def _walk(api, limit: int) -> list[int]:
    seen, cursor = [], None
    while True:
        page = api.get("/leads", limit=limit, **({"cursor": cursor} if cursor else {})).json()
        seen += [row["id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_the_cursor_walks_every_lead_once_newest_first(admin_api, world):
    # Newest first by created_at, then id: an older lead made later (an id above the others')
    # comes after them, and leads made at the same instant come by id, across page ends too.
    now = timezone.now()
    leads = sorted(Lead.objects.all(), key=lambda lead: lead.pk)
    for lead, minutes in zip(leads, [5, 1, 1, 1, 9, 0, 3], strict=True):
        Lead.objects.filter(pk=lead.pk).update(created_at=now - timedelta(minutes=minutes))
    expected = list(Lead.objects.order_by("-created_at", "-pk").values_list("pk", flat=True))
    assert expected != sorted(expected, reverse=True)
    for limit in (1, 2, 3, 50):
        assert _walk(admin_api, limit) == expected
    for bad in ("abc", "12", "1.2.3", ".5", "5.", "-5.1", "1" * 18 + ".1", "1." + "1" * 19, "1e5.1", "².1", "1.²", "1.2\n"):
        response = admin_api.get("/leads", cursor=bad)
        assert response.status_code == 422, bad
        assert response.json()["error"]["fields"] == {"cursor": ["is not valid"]}


def test_a_reps_pages_walk_only_the_reps_leads(rep_api, rep_user, other_rep):
    LeadFactory.create_batch(7, assigned_rep=other_rep)
    mine = [LeadFactory(assigned_rep=rep_user).pk for _ in range(5)]
    LeadFactory.create_batch(3)
    assert _walk(rep_api, 2) == sorted(mine, reverse=True)


def test_a_page_of_leads_is_two_queries_the_token_and_the_rows(rep_api, rep_user, django_assert_num_queries):
    LeadFactory.create_batch(60, assigned_rep=rep_user)
    rep_api.get("/leads")  # records the token's use (at most once a minute)
    with django_assert_num_queries(2):
        assert len(rep_api.get("/leads", limit=50).json()["items"]) == 50
    with django_assert_num_queries(2):
        assert len(rep_api.get("/leads", limit=50, status="NEW", priority="NORMAL").json()["items"]) == 50


LEAD = {"business_name": "Joe's Plumbing", "phone": "(212) 555-0147", "city": "Albany", "state": "new york",
        "postcode": "12207", "website": "joesplumbing.com"}


def test_creating_over_the_api_and_over_the_import_give_the_same_lead(admin_api, admin_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as queued:
        created = admin_api.post("/leads", LEAD)
    assert created.status_code == 201, created.content
    assert queued, "the new lead's pipeline (enrichment) is queued on commit, as an import's"
    by_api = Lead.objects.get(pk=created.json()["id"])
    by_api_values = {name: getattr(by_api, name) for name in
                     ("business_name", "phone", "city", "state", "postcode", "website", "country", "status")}
    assert by_api_values["phone"] == "+12125550147" and by_api_values["state"] == "NY"
    assert by_api_values["website"] == "https://joesplumbing.com"
    by_api.delete()
    csv = ("Business Name,Phone,City,State,Zip,Website\r\n"
           "Joe's Plumbing,(212) 555-0147,Albany,new york,12207,joesplumbing.com\r\n").encode()
    batch = import_batch_create(data=csv, filename="one.csv", actor=admin_user)
    import_batch_confirm(batch_id=batch.pk, actor=admin_user)
    by_import = Lead.objects.get(phone="+12125550147")
    assert {name: getattr(by_import, name) for name in by_api_values} == by_api_values
    # ... and the import's dedupe applies to the API: the same number is a conflict naming the lead.
    again = admin_api.post("/leads", {**LEAD, "phone": "+1 212 555 0147"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate"
    assert f"#{by_import.pk}" in again.json()["error"]["message"]
    assert Lead.objects.count() == 1


def test_an_invalid_lead_is_422_with_each_field_and_nothing_written(admin_api):
    response = admin_api.post("/leads", {"business_name": " ", "phone": "12", "state": "Narnia"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid" and {"business_name", "phone", "state"} <= set(error["fields"])
    missing = admin_api.post("/leads", {"business_name": "x"})
    assert missing.status_code == 422 and "phone" in missing.json()["error"]["fields"]
    not_json = admin_api.client.post("/api/v1/leads", "{", content_type="application/json")
    assert not_json.status_code in (400, 422) and "error" in not_json.json()
    assert not Lead.objects.exists()


def test_a_rep_may_not_create_leads(rep_api):
    response = rep_api.post("/leads", LEAD)
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    assert not Lead.objects.exists()


def test_the_same_idempotency_key_and_body_give_the_same_answer_and_one_lead(admin_api):
    key = {"Idempotency-Key": "form-submission-1"}
    first = admin_api.post("/leads", LEAD, headers=key)
    second = admin_api.post("/leads", LEAD, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Lead.objects.count() == 1
    reused = admin_api.post("/leads", {**LEAD, "phone": "(212) 555-0148"}, headers=key)
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_conflict"
    assert Lead.objects.count() == 1
    # Keys belong to a token: another token's same key is a new request.
    other = api_for(admin_api_user := Lead.objects.get().timeline.get(kind="added").actor)
    assert admin_api_user.is_admin
    fresh = other.post("/leads", {**LEAD, "phone": "(212) 555-0149"}, headers=key)
    assert fresh.status_code == 201 and Lead.objects.count() == 2


def test_a_key_older_than_api_idempotency_hours_is_a_new_request(admin_api):
    key = {"Idempotency-Key": "form-submission-2"}
    assert admin_api.post("/leads", LEAD, headers=key).status_code == 201
    later = timezone.now() + timedelta(hours=settings.API_IDEMPOTENCY_HOURS, seconds=1)
    with time_machine.travel(later, tick=False):
        fresh = admin_api.post("/leads", {**LEAD, "phone": "(212) 555-0148"}, headers=key)
    assert fresh.status_code == 201, fresh.content
    assert Lead.objects.count() == 2


def test_a_failed_request_frees_its_key(admin_api):
    key = {"Idempotency-Key": "k2"}
    assert admin_api.post("/leads", {**LEAD, "phone": "12"}, headers=key).status_code == 422
    assert admin_api.post("/leads", {**LEAD, "phone": "12"}, headers=key).status_code == 422
    assert Lead.objects.count() == 0


def test_status_and_rep_changes_go_through_the_service_with_timeline_events(admin_api, rep_api, world, other_rep):
    own = world["mine"][0]
    changed = rep_api.patch(f"/leads/{own.pk}", {"status": "NEGOTIATING", "priority": "HOT"})
    assert changed.status_code == 200 and changed.json()["status"] == "NEGOTIATING"
    assert TimelineEvent.objects.filter(lead=own, kind="status_change", data={"to": "NEGOTIATING"}).exists()
    refused = rep_api.patch(f"/leads/{own.pk}", {"assigned_rep_id": other_rep.pk})
    assert refused.status_code == 403
    own.refresh_from_db()
    assert own.assigned_rep != other_rep
    moved = admin_api.patch(f"/leads/{own.pk}", {"assigned_rep_id": other_rep.pk})
    assert moved.status_code == 200 and moved.json()["assigned_rep_id"] == other_rep.pk
    assert TimelineEvent.objects.filter(lead=own, kind="assigned").exists()
    assert rep_api.get(f"/leads/{own.pk}").status_code == 404  # no longer the rep's
    unassigned = admin_api.patch(f"/leads/{own.pk}", {"assigned_rep_id": None})
    assert unassigned.status_code == 200 and unassigned.json()["assigned_rep_id"] is None
    bad = admin_api.patch(f"/leads/{own.pk}", {"status": "WON_BIG"})
    assert bad.status_code == 422 and "status" in bad.json()["error"]["fields"]


@override_settings(API_RATE_PER_MINUTE=1000)
def test_the_docs_and_schema_are_served_without_a_cdn(client):
    schema = client.get("/api/v1/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    docs = client.get("/api/v1/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
