"""Leads typed in by a person: lead_validate (the import's rules), lead_create and lead_update."""

from datetime import UTC, datetime
from unittest.mock import patch

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from crm.models import Lead, TimelineEvent
from crm.services.leads import lead_create, lead_update, lead_validate
from tests.factories import AdminUserFactory, CompanySettingsFactory, LeadFactory, RepUserFactory

pytestmark = pytest.mark.django_db

ENRICH = "crm.tasks.enrichment.enrich_leads_task"
AFTERNOON = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    return {name: [message for error in errors for message in error] for name, errors in exc.error_dict.items()}


# --- lead_validate ---------------------------------------------------------------------------


def test_validate_normalises_as_the_import_does():
    values = lead_validate(data={
        "business_name": "Sunrise Plumbing", "phone": "(512) 555-0147", "country": "us",
        "state": "Texas", "postcode": "2134", "website": "sunrise.example.com",
    })
    assert values == {
        "business_name": "Sunrise Plumbing", "phone": "+15125550147", "country": "US",
        "state": "TX", "postcode": "02134", "website": "https://sunrise.example.com",
    }


def test_validate_a_canadian_number_in_canada_and_another_country_in_the_companys_region():
    CompanySettingsFactory(default_region="US")
    assert lead_validate(data={"business_name": "B", "phone": "(416) 555-0199", "country": "CA"})["phone"] == \
        "+14165550199"
    gb = lead_validate(data={"business_name": "B", "phone": "+44 20 7946 0018", "country": "GB",
                             "state": "London", "postcode": "SW1A 1AA"})
    assert (gb["phone"], gb["state"], gb["postcode"]) == ("+442079460018", "London", "SW1A 1AA")


def test_validate_names_each_problem_on_its_field():
    with pytest.raises(ValidationError) as caught:
        lead_validate(data={"business_name": "", "phone": "555-0000", "state": "Texass",
                            "postcode": "ABCDE", "website": "not a site"})
    assert _messages(caught.value) == {
        "business_name": ["A business name is required."],
        "phone": ["“555-0000” is not a valid phone number."],
        "state": ["“Texass” is not a US state."],
        "postcode": ["“ABCDE” is not a US ZIP code (12345 or 12345-6789)."],
        "website": ["“not a site” is not a website address."],
    }


def test_validate_finds_the_lead_that_has_the_phone_however_it_is_written():
    existing = LeadFactory(phone="+15125550147", business_name="Austin Pipes")

    with pytest.raises(ValidationError) as caught:
        lead_validate(data={"business_name": "New", "phone": "512.555.0147"})

    [error] = caught.value.error_dict["phone"]
    assert error.code == "duplicate"
    assert error.params == {"phone": "+15125550147", "business_name": "Austin Pipes", "lead_id": existing.pk}
    assert list(error) == [f"+15125550147 already belongs to Austin Pipes (lead #{existing.pk})."]
    # The lead's own phone is not a duplicate of itself.
    assert lead_validate(data={"phone": "512.555.0147"}, lead=existing) == {"phone": "+15125550147"}


def test_validate_on_a_change_judges_only_what_changes():
    lead = LeadFactory(phone="+15550000001", website="", country="CA", state="Ontario")  # stored, never valid
    assert lead_validate(data={"notes": "called"}, lead=lead) == {"notes": "called"}
    with pytest.raises(ValidationError) as caught:
        lead_validate(data={"country": "US"}, lead=lead)  # the stored state is judged for the new country
    assert _messages(caught.value) == {"state": ["“Ontario” is not a US state."]}


def test_validate_refuses_fields_a_person_does_not_type():
    with pytest.raises(ValueError, match="engagement_score"):
        lead_validate(data={"engagement_score": 99})


# --- lead_create -----------------------------------------------------------------------------


def test_create_stores_the_lead_and_queues_enrichment_after_commit(django_capture_on_commit_callbacks):
    admin = AdminUserFactory()
    with patch("crm.enqueue.async_task") as async_task:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            lead = lead_create(data={"business_name": "Sunrise", "phone": "(512) 555-0147"}, actor=admin)
        assert async_task.call_count == 0
        for callback in callbacks:
            callback()

    assert lead.phone == "+15125550147" and lead.country == "US"
    async_task.assert_called_once_with(ENRICH, [lead.pk], False, task_name="enrich-leads")
    [event] = TimelineEvent.objects.filter(lead=lead)
    assert (event.kind, event.actor) == (TimelineEvent.Kind.ADDED, admin)


def test_create_records_consent_given_by_an_admin_with_who_and_when():
    admin = AdminUserFactory()
    with time_machine.travel(AFTERNOON, tick=False):
        lead = lead_create(data={"business_name": "Sunrise", "phone": "(512) 555-0147",
                                 "consent_source": "Web form"}, actor=admin)
    assert lead.consent_at == AFTERNOON  # as an import's attestation: recorded now
    event = TimelineEvent.objects.get(lead=lead, kind=TimelineEvent.Kind.CONSENT_CHANGED)
    assert (event.actor, event.created_at) == (admin, AFTERNOON)
    assert event.data == {"from": {"source": "", "at": None}, "to": {"source": "Web form", "at": AFTERNOON.isoformat()}}


def test_create_with_consent_by_a_rep_is_refused_and_writes_nothing():
    with pytest.raises(PermissionDenied):
        lead_create(data={"business_name": "Sunrise", "phone": "(512) 555-0147", "consent_source": "Trust me"},
                    actor=RepUserFactory())
    assert not Lead.objects.exists()


def test_create_turns_a_phone_taken_meanwhile_into_the_duplicate_error(django_capture_on_commit_callbacks):
    """Another request added the number between the check and the insert."""
    LeadFactory(phone="+15125550147", business_name="Austin Pipes")
    checked = {"business_name": "Sunrise", "phone": "+15125550147", "country": "US"}

    with patch("crm.services.leads.lead_validate", return_value=checked), \
            django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError) as caught:
        lead_create(data={"business_name": "Sunrise", "phone": "(512) 555-0147"}, actor=AdminUserFactory())

    assert caught.value.error_dict["phone"][0].code == "duplicate"
    assert Lead.objects.count() == 1 and not callbacks


# --- lead_update -----------------------------------------------------------------------------


def test_update_writes_only_what_differs_with_one_event_per_kind_of_change():
    admin, rep = AdminUserFactory(), RepUserFactory(username="sam")
    lead = LeadFactory(notes="", status=Lead.Status.NEW)

    lead_update(lead=lead, data={"business_name": lead.business_name, "notes": "call after 3",
                                 "status": Lead.Status.CONTACTED, "assigned_rep": rep}, actor=admin)

    lead.refresh_from_db()
    assert (lead.notes, lead.status, lead.assigned_rep) == ("call after 3", Lead.Status.CONTACTED, rep)
    events = {e.kind: e.data for e in TimelineEvent.objects.filter(lead=lead, actor=admin)}
    assert events == {"status_change": {"to": "CONTACTED"}, "assigned": {"rep": "sam"}, "edited": {"fields": ["notes"]}}


def test_update_with_nothing_new_writes_nothing():
    lead = LeadFactory(phone="+15125550147")
    lead_update(lead=lead, data={"phone": "(512) 555-0147", "business_name": lead.business_name},
                actor=AdminUserFactory())
    assert not TimelineEvent.objects.exists()


def test_a_rep_cannot_change_consent_through_the_service():
    rep = RepUserFactory()
    lead = LeadFactory(assigned_rep=rep, consent_source="Import: trade show list")

    with pytest.raises(PermissionDenied):
        lead_update(lead=lead, data={"consent_source": "", "notes": "x"}, actor=rep)

    lead.refresh_from_db()
    assert (lead.consent_source, lead.notes) == ("Import: trade show list", "")
    assert not TimelineEvent.objects.exists()


def test_an_admin_changing_consent_is_recorded_with_before_and_after():
    admin = AdminUserFactory()
    given = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    lead = LeadFactory(consent_source="Import: trade show list", consent_at=given)

    with time_machine.travel(AFTERNOON, tick=False):
        lead_update(lead=lead, data={"consent_source": "", "consent_at": None}, actor=admin)

    lead.refresh_from_db()
    assert (lead.consent_source, lead.consent_at) == ("", None)
    event = TimelineEvent.objects.get(lead=lead)
    assert (event.kind, event.actor, event.created_at) == (TimelineEvent.Kind.CONSENT_CHANGED, admin, AFTERNOON)
    assert event.data == {"from": {"source": "Import: trade show list", "at": given.isoformat()},
                          "to": {"source": "", "at": None}}
