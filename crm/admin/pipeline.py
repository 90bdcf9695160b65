"""The lead pipeline in the admin: a filter, retry actions, and the facts shown with their sources."""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from unfold.decorators import action, display

from crm.enqueue import enrichment_enqueue, personalisation_enqueue
from crm.models import Lead
from crm.services.enrichment import leads_mark_for_enrichment
from crm.services.first_lines import MANUAL_SOURCE

PIPELINE_FILTERS = {
    "enrich_pending": ("Enrichment pending", Q(enrichment_status=Lead.PipelineStatus.PENDING)),
    "enrich_failed": ("Enrichment failed", Q(enrichment_status=Lead.PipelineStatus.FAILED)),
    "enrich_not_found": ("Not found by enrichment", Q(enrichment_status=Lead.PipelineStatus.NOT_FOUND)),
    "line_pending": ("First line pending", Q(first_line_status=Lead.PipelineStatus.PENDING)),
    "line_template": ("First line from template", Q(first_line_source="template")),
    "line_llm": ("First line by AI", Q(first_line_source__startswith="llm:")),
    "line_manual": ("First line typed by a person", Q(first_line_source=MANUAL_SOURCE)),
    "no_time_zone": ("No time zone", Q(time_zone="")),
    "complete": ("Enriched and personalised", Q(enrichment_status=Lead.PipelineStatus.DONE,
                                                first_line_status=Lead.PipelineStatus.DONE)),
}


class PipelineFilter(admin.SimpleListFilter):
    title = "pipeline"
    parameter_name = "pipeline"

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _) in PIPELINE_FILTERS.items()]

    def queryset(self, request, queryset):
        if self.value() in PIPELINE_FILTERS:
            return queryset.filter(PIPELINE_FILTERS[self.value()][1])
        return queryset


class LeadPipelineAdminMixin:
    """Actions and read-only displays for enrichment and first lines on the Lead admin."""

    @action(description="Retry enrichment of selected leads", permissions=["change"])
    def retry_enrichment(self, request, queryset):
        ids = leads_mark_for_enrichment(leads=queryset)
        tasks = enrichment_enqueue(ids, force=True)
        self.message_user(request, f"Enrichment queued for {len(ids)} lead(s) in {tasks} task(s).", messages.SUCCESS)

    @action(description="Regenerate first line of selected leads", permissions=["change"])
    def regenerate_first_line(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        tasks = personalisation_enqueue(ids, force=True)
        self.message_user(request, f"First lines queued for {len(ids)} lead(s) in {tasks} task(s).", messages.SUCCESS)

    @display(description="Facts found")
    def enrichment_facts(self, obj: Lead) -> str:
        data = obj.enrichment_data or {}
        facts = data.get("facts") or {}
        if not facts:
            return f"None yet ({obj.get_enrichment_status_display().lower()})"
        rows = format_html_join("", "<tr><td class='pr-4 text-subtle'>{}</td><td>{}</td></tr>",
                                ((key.replace("_", " "), _fact_text(value)) for key, value in facts.items()))
        simulated = data.get("simulated") or {}
        note = format_html(
            "<p class='text-subtle mt-1'>Made up by the offline backend, never shown to the lead: {}</p>",
            "; ".join(f"{k.replace('_', ' ')}: {_fact_text(v)}" for k, v in simulated.items()),
        ) if simulated else ""
        return format_html("<table>{}</table><p class='text-subtle mt-1'>Source: {} · {}</p>{}",
                           rows, data.get("source", "?"), data.get("fetched_at", "")[:19].replace("T", " "), note)

    @display(description="Time zone")
    def time_zone_display(self, obj: Lead) -> str:
        if not obj.time_zone:
            return "Unknown (quiet hours use the narrowest US window)"
        return f"{obj.time_zone} (from {obj.time_zone_source.replace('_', ' ') or 'unknown'})"

    @display(description="First line source")
    def first_line_origin(self, obj: Lead) -> str:
        data = obj.first_line_facts or {}
        used = ", ".join(f"{k}: {_fact_text(v)}" for k, v in (data.get("facts") or {}).items())
        reason = data.get("fallback_reason")
        return format_html("{}<br><span class='text-subtle'>Facts used: {}</span>{}",
                           obj.first_line_source or "not written yet", used or "-",
                           format_html("<br><span class='text-subtle'>Why a template: {}</span>", reason)
                           if reason and obj.first_line_source == "template" else "")


def _fact_text(value) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)
