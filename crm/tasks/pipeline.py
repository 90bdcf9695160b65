"""Pipeline tasks that fan out: an import's new leads, queued for enrichment in chunks."""

from crm.enqueue import enrichment_enqueue
from crm.models import Lead


def batch_enrichment_dispatch_task(batch_id: int) -> int:
    """Queue one enrichment task per chunk of the import's leads still pending. Returns tasks queued."""
    ids = list(
        Lead.objects.filter(source_batch_id=batch_id, enrichment_status=Lead.PipelineStatus.PENDING)
        .order_by("pk").values_list("pk", flat=True)
    )
    return enrichment_enqueue(ids)
