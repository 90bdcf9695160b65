"""Enrichment service: facts kept with their source, time zone derived, failures recorded."""

import pytest

from crm.integrations.enrichment_types import PlaceResult
from crm.integrations.errors import ProviderResponseError, ProviderUnavailable
from crm.models import Lead, TimelineEvent
from crm.services.enrichment import lead_enrich, leads_enrich
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db


class ScriptedBackend:
    name = "serpapi"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def lookup(self, **kwargs):
        self.calls.append(kwargs)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_found_place_fills_gaps_keeps_facts_and_derives_zone_from_coordinates():
    lead = LeadFactory(category="", website="https://mine.example", city="Austin", state="TX")
    backend = ScriptedBackend(PlaceResult(found=True, source="serpapi", name="Joe's", latitude=30.2672,
                                          longitude=-97.7431, category="Plumber", rating=4.8, review_count=112,
                                          website="https://theirs.example"))
    assert lead_enrich(lead=lead, backend=backend) == Lead.PipelineStatus.DONE
    lead.refresh_from_db()
    assert lead.enrichment_data["source"] == "serpapi"
    assert lead.enrichment_data["facts"]["rating"] == 4.8
    assert lead.category == "Plumber"
    assert lead.website == "https://mine.example"  # never overwritten
    assert (lead.time_zone, lead.time_zone_source) == ("America/Chicago", "coordinates")
    assert lead.enrichment_attempts == 1 and lead.enriched_at is not None
    event = TimelineEvent.objects.get(lead=lead, kind=TimelineEvent.Kind.ENRICHED)
    assert event.data["status"] == "done" and event.data["source"] == "serpapi"
    assert backend.calls[0]["business_name"] == lead.business_name


def test_not_found_is_an_answer_and_the_zone_falls_back_to_the_state():
    lead = LeadFactory(state="CO", latitude=None, longitude=None)
    lead_enrich(lead=lead, backend=ScriptedBackend(PlaceResult(found=False, source="serpapi")))
    lead.refresh_from_db()
    assert lead.enrichment_status == Lead.PipelineStatus.NOT_FOUND
    assert lead.enrichment_error == ""
    assert (lead.time_zone, lead.time_zone_source) == ("America/Denver", "state")


@pytest.mark.parametrize("error, kind", [
    (ProviderUnavailable("serpapi: HTTP 503 after 4 attempts"), "temporary"),
    (ProviderResponseError("serpapi: malformed JSON"), "permanent"),
])
def test_provider_failure_is_recorded_for_retry(error, kind):
    lead = LeadFactory()
    assert lead_enrich(lead=lead, backend=ScriptedBackend(error)) == Lead.PipelineStatus.FAILED
    lead.refresh_from_db()
    assert lead.enrichment_error.startswith(kind) and "serpapi" in lead.enrichment_error
    assert lead.enrichment_attempts == 1
    assert TimelineEvent.objects.get(lead=lead, kind="enriched").data["status"] == "failed"


def test_leads_enrich_offline_skips_done_leads_unless_forced():
    boston = LeadFactory(business_name="Allston Dental", city="", state="MA", postcode="02134", category="")
    done = LeadFactory(enrichment_status=Lead.PipelineStatus.DONE)
    summary = leads_enrich(lead_ids=[boston.pk, done.pk])
    assert (summary.done, summary.skipped) == (1, 1)
    boston.refresh_from_db()
    assert boston.enrichment_data["source"] == "offline"
    assert boston.latitude is not None and boston.time_zone == "America/New_York"
    assert boston.category  # inferred from the name offline
    # Offline ratings and hours are made up: kept apart, never presented as facts.
    assert "rating" not in boston.enrichment_data["facts"]
    assert "rating" in boston.enrichment_data["simulated"]
    again = leads_enrich(lead_ids=[done.pk], force=True)
    assert again.skipped == 0
