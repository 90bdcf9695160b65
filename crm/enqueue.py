"""Starting background work. Services, the admin and tasks call these; each names its task by
dotted path, so this module imports no services and no tasks (arrows point down)."""

from django.db import transaction
from django_q.tasks import async_task

PIPELINE_CHUNK = 200  # leads per enrichment or first-line task


def sms_sender_start() -> None:
    """Start a sender once the current transaction commits (a no-op if enough already run)."""
    transaction.on_commit(lambda: async_task("crm.tasks.messaging.sms_sender_task", task_name="sms-sender"))


def import_dry_run_enqueue(batch_id: int) -> None:
    """Plan a big import in the worker, once its batch row is committed."""
    transaction.on_commit(lambda: async_task("crm.tasks.imports.import_dry_run_task", batch_id,
                                             task_name=f"import-{batch_id}-dry-run"))


def import_run_enqueue(batch_id: int, actor_id: int | None) -> None:
    """Write a confirmed big import in the worker. Queued at once: the caller (import_batch_confirm)
    has committed the batch's RUNNING status in its own transaction first."""
    async_task("crm.tasks.imports.import_run_task", batch_id, actor_id, task_name=f"import-{batch_id}-run")


def batch_enrichment_enqueue(batch_id: int) -> None:
    """Enrich an import's new leads, once they are committed: one task for the whole import,
    which the worker splits into chunk tasks, so a 50,000-lead import does not make the web
    request (or the command) write hundreds of queue rows."""
    transaction.on_commit(lambda: async_task("crm.tasks.pipeline.batch_enrichment_dispatch_task", batch_id,
                                             task_name=f"import-{batch_id}-enrich"))


def _chunked(ids: list[int], size: int = PIPELINE_CHUNK) -> list[list[int]]:
    ordered = sorted(set(ids))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def enrichment_enqueue(lead_ids: list[int], force: bool = False) -> int:
    """One enrichment task per chunk of leads, queued now. Returns the number of tasks queued."""
    chunks = _chunked(lead_ids)
    for chunk in chunks:
        async_task("crm.tasks.enrichment.enrich_leads_task", chunk, force, task_name="enrich-leads")
    return len(chunks)


def personalisation_enqueue(lead_ids: list[int], force: bool = False) -> int:
    """One first-line task per chunk of leads, queued now. Returns the number of tasks queued."""
    chunks = _chunked(lead_ids)
    for chunk in chunks:
        async_task("crm.tasks.enrichment.personalise_leads_task", chunk, force, task_name="personalise-leads")
    return len(chunks)


def preview_events_flush_start() -> None:
    """Write the queued tracking events now (the worker batches them; see services/preview_queue.py)."""
    async_task("crm.tasks.previews.preview_events_flush_task", task_name="preview-events-flush")


def call_simulation_enqueue(call_id: int) -> None:
    """Play an offline call's ringing, answer and hang-up in the worker (no Twilio keys)."""
    async_task("crm.tasks.calls.call_simulate_task", call_id, task_name=f"call-{call_id}-simulate")
