"""Queue the lead pipeline (enrich -> personalise -> enrol) in chunks, never one task per row."""

from django_q.tasks import async_task

PIPELINE_CHUNK = 200


def chunked(ids: list[int], size: int = PIPELINE_CHUNK) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def enqueue_batch_enrichment(batch_id: int) -> None:
    """One task for a whole import; the worker splits it into chunk tasks, so a 50,000-lead
    import does not make the web request (or the command) write hundreds of queue rows."""
    async_task("crm.tasks.pipeline.batch_enrichment_dispatch_task", batch_id, task_name=f"import-{batch_id}-enrich")


def batch_enrichment_dispatch_task(batch_id: int) -> int:
    from crm.models import Lead

    ids = list(
        Lead.objects.filter(source_batch_id=batch_id, enrichment_status=Lead.PipelineStatus.PENDING)
        .order_by("pk").values_list("pk", flat=True)
    )
    return enqueue_enrichment(ids)


def enqueue_enrichment(lead_ids: list[int], force: bool = False) -> int:
    """One enrichment task per chunk of leads. Returns the number of tasks queued."""
    chunks = chunked(sorted(set(lead_ids)))
    for chunk in chunks:
        async_task("crm.tasks.enrichment.enrich_leads_task", chunk, force, task_name="enrich-leads")
    return len(chunks)


def enqueue_personalisation(lead_ids: list[int], force: bool = False) -> int:
    """One first-line task per chunk of leads. Returns the number of tasks queued."""
    chunks = chunked(sorted(set(lead_ids)))
    for chunk in chunks:
        async_task("crm.tasks.enrichment.personalise_leads_task", chunk, force, task_name="personalise-leads")
    return len(chunks)
