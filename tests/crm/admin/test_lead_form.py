"""The lead add and change forms: the import's rules for what is typed (E.164 phones, field
errors, the duplicate check), the pipeline for a new lead, and consent only by an admin."""

from datetime import UTC, datetime
from unittest.mock import patch

import pytest
import time_machine
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry

from crm import models as m
from tests import factories as f
from tests.crm.admin import admin_url, changeform_post_data

ENRICH = "crm.tasks.enrichment.enrich_leads_task"
# A fixed afternoon: nothing here may depend on the hour the suite runs at.
AFTERNOON = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def _add(client, **fields):
    """POST the add form as the page would send it, with `fields` typed in."""
    data = changeform_post_data(client.get(admin_url(m.Lead, "add")))
    data.update({"business_name": "Sunrise Plumbing", "country": "US", "_save": "Save", **fields})
    return client.post(admin_url(m.Lead, "add"), data)


def _change(client, lead, **fields):
    url = admin_url(m.Lead, "change", lead.pk)
    data = changeform_post_data(client.get(url))
    data.update({"_save": "Save", **fields})
    return client.post(url, data)


def _errors(response) -> dict:
    assert response.status_code == 200, "the form was accepted"
    return response.context["adminform"].form.errors


# --- Adding a lead ---------------------------------------------------------------------------


def test_admin_adds_a_lead_typed_as_people_write_it(admin_client, admin_user, django_capture_on_commit_callbacks):
    with patch("crm.enqueue.async_task") as async_task, django_capture_on_commit_callbacks(execute=True):
        response = _add(admin_client, phone="(512) 555-0147", state="texas", postcode="78701",
                        website="sunriseplumbing.com", city="Austin")
        assert response.status_code == 302, _errors(response)
        assert async_task.call_count == 0  # nothing is queued before the lead is committed

    lead = m.Lead.objects.get()
    assert (lead.phone, lead.state, lead.postcode, lead.website) == (
        "+15125550147", "TX", "78701", "https://sunriseplumbing.com")
    assert lead.enrichment_status == m.Lead.PipelineStatus.PENDING
    async_task.assert_called_once_with(ENRICH, [lead.pk], False, task_name="enrich-leads")
    event = m.TimelineEvent.objects.get(lead=lead)
    assert (event.kind, event.actor_id) == (m.TimelineEvent.Kind.ADDED, admin_user.pk)
    assert LogEntry.objects.get(object_id=str(lead.pk)).action_flag == ADDITION


def test_a_lead_added_by_hand_runs_the_pipeline_to_enrolment(admin_client, django_capture_on_commit_callbacks):
    """The same offline pipeline an import's leads go through (django-q2 is sync in tests)."""
    step = f.SequenceStepFactory(delay_days=0)
    company = f.CompanySettingsFactory()
    company.auto_enroll_sequence = step.sequence
    company.save()

    with time_machine.travel(AFTERNOON, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = _add(admin_client, phone="(512) 555-0147", city="Austin", state="TX", category="plumber",
                        consent_source="Signed up on our web form", consent_at_0="", consent_at_1="")
        assert response.status_code == 302, _errors(response)

    lead = m.Lead.objects.get()
    assert lead.enrichment_status == m.Lead.PipelineStatus.DONE and lead.time_zone == "America/Chicago"
    assert lead.first_line and lead.first_line_source == "template"
    assert m.Enrollment.objects.filter(lead=lead, sequence=step.sequence).exists()
    kinds = list(m.TimelineEvent.objects.filter(lead=lead).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["added", "consent_changed", "enriched", "personalised", "enrolled"]


@pytest.mark.parametrize(("typed", "problem"), [
    ("555-0000", "is not a valid phone number"),
    ("call me maybe", "is not a phone number"),
    ("(212) 155-0147", "is not a valid phone number"),
])
def test_an_invalid_phone_is_a_field_error_and_nothing_is_saved(admin_client, typed, problem,
                                                                django_capture_on_commit_callbacks):
    with patch("crm.enqueue.async_task") as async_task, django_capture_on_commit_callbacks(execute=True):
        response = _add(admin_client, phone=typed)

    errors = _errors(response)
    assert errors["phone"] == [f"“{typed}” {problem}."]
    assert not m.Lead.objects.exists()
    assert not m.TimelineEvent.objects.exists()
    assert async_task.call_count == 0


def test_a_phone_another_lead_has_is_a_field_error_naming_it(admin_client, django_capture_on_commit_callbacks):
    existing = f.LeadFactory(phone="+15125550147", business_name="Austin Pipes")

    with patch("crm.enqueue.async_task") as async_task, django_capture_on_commit_callbacks(execute=True):
        response = _add(admin_client, phone="512.555.0147")  # the same number, written differently

    link = f'<a href="{admin_url(m.Lead, "change", existing.pk)}" class="underline">Austin Pipes</a>'
    assert _errors(response)["phone"] == [f"+15125550147 already belongs to {link}."]
    assert link in response.content.decode()
    assert list(m.Lead.objects.values_list("pk", flat=True)) == [existing.pk]
    assert async_task.call_count == 0


def test_state_postcode_and_website_get_the_imports_errors(admin_client):
    response = _add(admin_client, phone="(512) 555-0147", state="Texass", postcode="TX 78701", website="not a site")

    errors = _errors(response)
    assert errors["state"] == ["“Texass” is not a US state."]
    assert errors["postcode"] == ["“TX 78701” is not a US ZIP code (12345 or 12345-6789)."]
    assert "website" in errors
    assert not m.Lead.objects.exists()


# --- Changing a lead -------------------------------------------------------------------------


def test_change_form_normalises_a_new_phone_and_state(admin_client, admin_user):
    lead = f.LeadFactory(state="IL", assigned_rep=f.RepUserFactory())

    response = _change(admin_client, lead, phone="1 (512) 555-0147", state="tx", postcode="2134",
                       website="www.example.com/menu")

    assert response.status_code == 302, _errors(response)
    lead.refresh_from_db()
    assert (lead.phone, lead.state, lead.postcode, lead.website) == (
        "+15125550147", "TX", "02134", "https://www.example.com/menu")
    event = m.TimelineEvent.objects.get(lead=lead)
    assert (event.kind, event.actor_id) == (m.TimelineEvent.Kind.EDITED, admin_user.pk)
    assert event.data == {"fields": ["phone", "postcode", "state", "website"]}


def test_change_form_refuses_another_leads_phone_and_an_invalid_one(admin_client):
    other = f.LeadFactory(phone="+15125550147", business_name="Austin Pipes")
    lead = f.LeadFactory(business_name="Sunrise Plumbing")
    stored_phone = lead.phone

    duplicate = _change(admin_client, lead, phone="512-555-0147", notes="changed too")
    link = f'<a href="{admin_url(m.Lead, "change", other.pk)}" class="underline">Austin Pipes</a>'
    assert _errors(duplicate)["phone"] == [f"+15125550147 already belongs to {link}."]
    assert link in duplicate.content.decode()

    invalid = _change(admin_client, lead, phone="555-0000", notes="changed too")
    assert _errors(invalid)["phone"] == ["“555-0000” is not a valid phone number."]

    lead.refresh_from_db()
    assert (lead.phone, lead.notes) == (stored_phone, "")
    assert not m.TimelineEvent.objects.exists()


def test_change_form_keeps_the_leads_own_phone_typed_differently(admin_client):
    lead = f.LeadFactory(phone="+15125550147")

    response = _change(admin_client, lead, phone="(512) 555-0147", notes="called")

    assert response.status_code == 302, _errors(response)
    lead.refresh_from_db()
    assert (lead.phone, lead.notes) == ("+15125550147", "called")


def test_change_form_judges_the_stored_state_again_when_the_country_changes(admin_client):
    lead = f.LeadFactory(country="CA", state="Ontario")

    response = _change(admin_client, lead, country="US")

    assert _errors(response)["state"] == ["“Ontario” is not a US state."]
    lead.refresh_from_db()
    assert lead.country == "CA"


def test_a_first_line_typed_on_the_change_form_is_kept_as_manual(admin_client, admin_user):
    lead = f.LeadFactory()

    response = _change(admin_client, lead, first_line="Saw your new van on Congress Ave.")

    assert response.status_code == 302, _errors(response)
    lead.refresh_from_db()
    assert (lead.first_line, lead.first_line_source, lead.first_line_status) == (
        "Saw your new van on Congress Ave.", "manual", m.Lead.PipelineStatus.DONE)
    assert m.TimelineEvent.objects.get(lead=lead).kind == m.TimelineEvent.Kind.PERSONALISED


# --- Consent ---------------------------------------------------------------------------------


def test_consent_is_read_only_for_a_rep(rep_client, rep_user):
    lead = f.LeadFactory(assigned_rep=rep_user, consent_source="Import: trade show list")

    page = rep_client.get(admin_url(m.Lead, "change", lead.pk))

    form = page.context["adminform"].form
    assert "consent_source" not in form.fields and "consent_at" not in form.fields
    assert "Import: trade show list" in page.content.decode()  # shown, not editable


@pytest.mark.parametrize("stored", [{}, {"consent_source": "Import: trade show list"}], ids=["none", "imported"])
def test_a_rep_posting_consent_fields_changes_nothing_of_them(rep_client, rep_user, stored):
    lead = f.LeadFactory(assigned_rep=rep_user, **stored)
    before = m.Lead.objects.values("consent_source", "consent_at").get(pk=lead.pk)

    response = _change(rep_client, lead, notes="asked for a call back", consent_source="Forged by a rep",
                       consent_at="2026-01-01 10:00", consent_at_0="2026-01-01", consent_at_1="10:00")

    assert response.status_code == 302, _errors(response)
    lead.refresh_from_db()
    assert lead.notes == "asked for a call back"
    assert m.Lead.objects.values("consent_source", "consent_at").get(pk=lead.pk) == before
    assert not m.TimelineEvent.objects.filter(lead=lead, kind=m.TimelineEvent.Kind.CONSENT_CHANGED).exists()


def test_an_admins_consent_change_is_on_the_timeline_with_who_and_when(admin_client, admin_user):
    lead = f.LeadFactory(assigned_rep=f.RepUserFactory())

    with time_machine.travel(AFTERNOON, tick=False):
        response = _change(admin_client, lead, consent_source="Signed form at the trade show")

    assert response.status_code == 302, _errors(response)
    lead.refresh_from_db()
    assert (lead.consent_source, lead.consent_at) == ("Signed form at the trade show", AFTERNOON)
    event = m.TimelineEvent.objects.get(lead=lead, kind=m.TimelineEvent.Kind.CONSENT_CHANGED)
    assert (event.actor_id, event.created_at) == (admin_user.pk, AFTERNOON)
    assert event.data == {"from": {"source": "", "at": None},
                          "to": {"source": "Signed form at the trade show", "at": AFTERNOON.isoformat()}}
    entry = LogEntry.objects.get(object_id=str(lead.pk))
    assert entry.action_flag == CHANGE and "Consent source" in entry.get_change_message()
    timeline = admin_client.get(admin_url(m.Lead, "change", lead.pk)).content.decode()
    assert "Consent changed" in timeline
