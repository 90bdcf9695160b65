"""Enrichment: look each lead up (SerpAPI or the offline gazetteer), keep every fact with its
source, derive the time zone, and record failures so they can be retried."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.integrations.enrichment import get_enrichment_backend
from crm.integrations.errors import ProviderError, ProviderUnavailable
from crm.models import Lead, TimelineEvent
from crm.services.concurrency import map_io
from crm.services.throttle import provider_limiter
from crm.services.timezones import derive_time_zone

RETRYABLE = (Lead.PipelineStatus.PENDING, Lead.PipelineStatus.FAILED)


@dataclass
class EnrichmentSummary:
    done: int = 0
    not_found: int = 0
    failed: int = 0
    skipped: int = 0


# The offline backend makes these up from a hash: fine for the shape of a demo, never to be
# quoted to a real business in a first line or on its preview page.
SIMULATED_OFFLINE = ("rating", "review_count", "hours")


def _apply_result(lead: Lead, result, backend_name: str) -> None:
    facts = result.facts()
    data = {"source": backend_name, "fetched_at": timezone.now().isoformat(), "facts": facts}
    if backend_name == "offline":
        data["simulated"] = {key: facts.pop(key) for key in SIMULATED_OFFLINE if key in facts}
    lead.enrichment_data = data
    if result.latitude is not None and result.longitude is not None:
        lead.latitude, lead.longitude = round(result.latitude, 6), round(result.longitude, 6)
    # Facts fill gaps; they never overwrite what the agency typed or imported.
    if result.category and not lead.category:
        lead.category = result.category[:100]
    if result.website and not lead.website:
        lead.website = result.website[:500]


def _lookup(backend, lead: Lead):
    """The provider call only (no database writes): a PlaceResult or the ProviderError raised."""
    try:
        return backend.lookup(
            business_name=lead.business_name, address=lead.address, city=lead.city, state=lead.state,
            postcode=lead.postcode, phone=lead.phone, category=lead.category,
        )
    except ProviderError as exc:
        return exc


def _record(lead: Lead, outcome, backend_name: str, actor=None) -> str:
    lead.enrichment_attempts += 1
    error = ""
    gazetteer_zone = ""
    if isinstance(outcome, ProviderError):
        lead.enrichment_status = Lead.PipelineStatus.FAILED
        error = str(outcome)
        kind = "temporary" if isinstance(outcome, ProviderUnavailable) else "permanent"
        lead.enrichment_error = f"{kind}: {error}"[:2000]
    else:
        lead.enrichment_error = ""
        if outcome.found:
            _apply_result(lead, outcome, backend_name)
            gazetteer_zone = outcome.time_zone
            lead.enrichment_status = Lead.PipelineStatus.DONE
        else:
            lead.enrichment_data = {"source": backend_name, "fetched_at": timezone.now().isoformat(), "facts": {}}
            lead.enrichment_status = Lead.PipelineStatus.NOT_FOUND
        lead.enriched_at = timezone.now()
    if lead.time_zone_source != "manual":
        zone, how = derive_time_zone(latitude=lead.latitude, longitude=lead.longitude, gazetteer_zone=gazetteer_zone,
                                     state=lead.state, country=lead.country, phone=lead.phone)
        if zone:
            lead.time_zone, lead.time_zone_source = zone, how
    with transaction.atomic():
        lead.save(update_fields=[
            "enrichment_attempts", "enrichment_status", "enrichment_error", "enrichment_data", "enriched_at",
            "latitude", "longitude", "category", "website", "time_zone", "time_zone_source", "updated_at",
        ])
        TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.ENRICHED, actor=actor, data={
            "status": lead.enrichment_status, "source": backend_name, "error": error[:300],
            "time_zone": lead.time_zone, "time_zone_source": lead.time_zone_source,
        })
    return lead.enrichment_status


def lead_enrich(*, lead: Lead, backend=None, actor=None) -> str:
    """Enrich one lead and save it. Returns the new enrichment status.

    Never raises for provider trouble: the error text and attempt count are kept on the
    lead (status failed) for a retry; "not found" is an answer, not a failure.
    """
    backend = backend or get_enrichment_backend(limiter=provider_limiter("serpapi"))
    return _record(lead, _lookup(backend, lead), backend.name, actor)


def leads_enrich(*, lead_ids: list[int], force: bool = False, actor=None, backend=None) -> EnrichmentSummary:
    """Enrich the given leads that still need it (all of them with force=True).

    Provider calls run PROVIDER_CONCURRENCY at a time (the shared rate limit still holds);
    results are written one lead at a time, each with its timeline entry.
    """
    own_backend = backend is None
    backend = backend or get_enrichment_backend(limiter=provider_limiter("serpapi"))
    leads = Lead.objects.filter(pk__in=lead_ids).order_by("pk")
    if not force:
        leads = leads.filter(enrichment_status__in=RETRYABLE)
    leads = list(leads)
    summary = EnrichmentSummary(skipped=len(set(lead_ids)) - len(leads))
    try:
        outcomes = map_io(lambda lead: _lookup(backend, lead), leads, workers=settings.PROVIDER_CONCURRENCY)
    finally:
        if own_backend and hasattr(backend, "close"):
            backend.close()  # its pooled HTTP connections
    for lead, outcome in zip(leads, outcomes):
        status = _record(lead, outcome, backend.name, actor)
        if status == Lead.PipelineStatus.DONE:
            summary.done += 1
        elif status == Lead.PipelineStatus.NOT_FOUND:
            summary.not_found += 1
        else:
            summary.failed += 1
    return summary


def leads_mark_for_enrichment(*, leads, actor=None) -> list[int]:
    """Reset the given leads to pending (the admin's "retry enrichment"); returns their ids."""
    ids = list(leads.values_list("pk", flat=True))
    Lead.objects.filter(pk__in=ids).update(enrichment_status=Lead.PipelineStatus.PENDING, enrichment_error="")
    return ids
