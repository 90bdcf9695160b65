"""Pipeline tasks: ids in, one service call, then the next step for the same chunk."""

from django_q.tasks import async_task

from crm.models import Lead
from crm.services.enrichment import leads_enrich
from crm.services.personalisation import leads_personalise


def enrich_leads_task(lead_ids: list[int], force: bool = False) -> dict:
    summary = leads_enrich(lead_ids=lead_ids, force=force)
    ready = list(Lead.objects.filter(pk__in=lead_ids).exclude(enrichment_status=Lead.PipelineStatus.FAILED)
                 .values_list("pk", flat=True))
    if ready:
        async_task("crm.tasks.enrichment.personalise_leads_task", ready, task_name="personalise-leads")
    return summary.__dict__


def personalise_leads_task(lead_ids: list[int], force: bool = False) -> dict:
    return leads_personalise(lead_ids=lead_ids, force=force).__dict__
