"""Personalisation: write each lead's first line from its stored facts, by AI when a key is
set and the answer passes every check, else from the category template."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from crm.integrations.errors import ProviderError
from crm.integrations.llm import get_chat_backend
from crm.integrations.search import get_search_backend
from crm.models import CompanySettings, Lead, TimelineEvent
from crm.services.enrollments import leads_auto_enroll
from crm.services.first_lines import (
    MANUAL_SOURCE,
    PROMPT_VERSION,
    build_prompt,
    check_first_line,
    template_first_line,
)
from crm.services.concurrency import map_io
from crm.services.throttle import provider_limiter



@dataclass
class PersonalisationSummary:
    llm: int = 0
    template: int = 0
    skipped: int = 0
    enrolled: int = 0


def lead_facts(lead: Lead) -> dict:
    """What is known about the lead, from the import and enrichment: the only material a line may use."""
    found = (lead.enrichment_data or {}).get("facts", {})
    facts = {
        "business_name": lead.business_name,
        "category": lead.category or found.get("category", ""),
        "city": lead.city or found.get("city", ""),
        "state": lead.state,
        "rating": found.get("rating"),
        "review_count": found.get("review_count"),
    }
    return {key: value for key, value in facts.items() if value not in (None, "")}


def _search_snippets(search, lead: Lead) -> list[str]:
    if search is None:
        return []
    try:
        return search.snippets(query=f"{lead.business_name} {lead.city} {lead.state}".strip(), limit=3)
    except ProviderError:
        return []  # context is optional


@dataclass
class Composed:
    line: str
    source: str
    reason: str
    facts: dict


def _compose(lead: Lead, company: CompanySettings, chat, search) -> Composed:
    """Write the line (provider calls only, no database writes)."""
    facts = lead_facts(lead)
    line, source, reason = "", "template", ""
    if not company.personalisation_enabled:
        reason = "personalisation is switched off"
    elif chat is None:
        reason = "no AI key configured"
    else:
        snippets = _search_snippets(search, lead)
        if snippets:
            facts["snippets"] = snippets
        system, user = build_prompt(facts=facts, tone=company.personalisation_tone, company_name=company.name)
        try:
            answer = chat.complete(system=system, user=user)
        except ProviderError as exc:
            reason = f"AI call failed: {exc}"
        else:
            line, reason = check_first_line(answer, facts)
            if line:
                source = f"llm:{chat.model}"
            else:
                reason = f"AI answer rejected: {reason}"
    if not line:
        line = template_first_line(facts)
    return Composed(line=line, source=source, reason=reason, facts=facts)


def _save(lead: Lead, composed: Composed, actor=None) -> str:
    lead.first_line = composed.line
    lead.first_line_source = composed.source
    lead.first_line_status = Lead.PipelineStatus.DONE
    lead.first_line_facts = {"facts": composed.facts, "prompt_version": PROMPT_VERSION,
                             "fallback_reason": composed.reason}
    with transaction.atomic():
        lead.save(update_fields=["first_line", "first_line_source", "first_line_status", "first_line_facts",
                                 "updated_at"])
        TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.PERSONALISED, actor=actor,
                                     data={"source": composed.source, "fallback_reason": composed.reason[:300]})
    return composed.source


def lead_personalise(*, lead: Lead, company: CompanySettings, chat=None, search=None, actor=None) -> str:
    """Write and save the lead's first line; returns its source (llm:<model> or template)."""
    return _save(lead, _compose(lead, company, chat, search), actor)


def leads_personalise(*, lead_ids: list[int], force: bool = False, actor=None) -> PersonalisationSummary:
    """First lines for the given leads, then auto-enrolment when the company names a sequence.

    Lines typed by a person (source "manual") and lines already written are kept unless force.
    Provider calls run PROVIDER_CONCURRENCY at a time under the shared rate limits.
    """
    company = CompanySettings.load()
    chat = get_chat_backend(limiter=provider_limiter("llm")) if company.personalisation_enabled else None
    search = get_search_backend(limiter=provider_limiter("serper")) if chat else None
    leads = Lead.objects.filter(pk__in=lead_ids).order_by("pk")
    if not force:
        leads = leads.exclude(first_line_status=Lead.PipelineStatus.DONE).exclude(first_line_source=MANUAL_SOURCE)
    leads = list(leads)
    try:
        composed = map_io(lambda lead: _compose(lead, company, chat, search), leads,
                          workers=settings.PROVIDER_CONCURRENCY if chat else 1)
    finally:
        for client in (chat, search):
            if client is not None and hasattr(client, "close"):
                client.close()  # its pooled HTTP connections
    summary = PersonalisationSummary(skipped=len(set(lead_ids)) - len(leads))
    for lead, result in zip(leads, composed):
        source = _save(lead, result, actor)
        summary.llm += source.startswith("llm:")
        summary.template += source == "template"
    summary.enrolled = leads_auto_enroll(lead_ids=[lead.pk for lead in leads], sequence=company.auto_enroll_sequence)
    return summary


def lead_set_first_line(*, lead: Lead, text: str, actor) -> None:
    """A person wrote the line: keep it, and never let the pipeline overwrite it. The caller saves."""
    lead.first_line = text.strip()
    lead.first_line_source = MANUAL_SOURCE
    lead.first_line_status = Lead.PipelineStatus.DONE
    TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.PERSONALISED, actor=actor,
                                 data={"source": MANUAL_SOURCE})
