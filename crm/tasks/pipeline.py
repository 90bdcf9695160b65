"""Queue the lead pipeline (enrich -> personalise -> enrol) in chunks, never one task per row."""

from django_q.tasks import async_task

PIPELINE_CHUNK = 200


def chunked(ids: list[int], size: int = PIPELINE_CHUNK) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def enqueue_enrichment(lead_ids: list[int]) -> int:
    """One enrichment task per chunk of leads. Returns the number of tasks queued."""
    chunks = chunked(sorted(set(lead_ids)))
    for chunk in chunks:
        async_task("crm.tasks.enrichment.enrich_leads_task", chunk, task_name="enrich-leads")
    return len(chunks)
