"""The import workflow: upload -> dry run -> confirm -> run (inline or in the worker) -> undo.

The file is read as a stream on every pass (count, dry run, run), a chunk at a time, so a
big file costs the same memory as a small one.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from crm.enqueue import batch_enrichment_enqueue, import_dry_run_enqueue, import_run_enqueue
from crm.models import CompanySettings, ImportBatch, Lead, Message, TimelineEvent
from crm.services.assignment import leads_round_robin
from crm.services.imports.execute import batch_record_result, import_execute
from crm.services.imports.headers import map_columns
from crm.services.imports.plan import DuplicateMode, ImportPlan, import_plan
from crm.services.imports.reading import ImportFileError, ImportSource, Table, table_open


class ImportStateError(Exception):
    """The batch is not in a state that allows this step (e.g. confirmed twice)."""


def import_file_read(*, data: ImportSource, filename: str) -> Table:
    """Open the file and check its shape (size, format, encoding, required columns), or raise
    ImportFileError. `data` is the file's bytes, a path, or an uploaded or stored file."""
    table = table_open(source=data, filename=filename, max_bytes=settings.IMPORT_MAX_UPLOAD_BYTES)
    map_columns(table.headers)
    return table


def _region() -> str:
    return CompanySettings.load().default_region or "US"


def import_preview(*, data: ImportSource, filename: str, mode: str, keep_rows: bool = True) -> ImportPlan:
    """The dry run: what importing this file would do. Writes nothing.

    With keep_rows=False only counts, samples and the report are kept (any size of file).
    """
    table = import_file_read(data=data, filename=filename)
    return import_plan(table=table, mode=mode, region=_region(), keep_rows=keep_rows)


@contextmanager
def _django_file(data: ImportSource):
    """`data` as a Django File that storage can copy in chunks."""
    if isinstance(data, bytes):
        yield ContentFile(data)
    elif isinstance(data, File):
        data.seek(0)
        yield data
    else:
        with open(data, "rb") as handle:
            yield File(handle)


def import_batch_create(*, data: ImportSource, filename: str, actor, mode: str = DuplicateMode.SKIP,
                        consent_source: str = "", consent_wording: str = "",
                        inline: bool = False, dry_run: bool = True) -> ImportBatch:
    """Check the file, store it on a new batch and run (or queue) its dry run.

    Reads the whole file once (its rows are counted), so a file that cannot be read to its
    end is refused here. Big files are planned in the worker unless `inline` (the command
    line waits anyway). With dry_run=False the batch goes straight to RUNNING, for
    import_batch_run to write (the command line plans once, at write time).

    Raises ImportFileError before anything is written when the file cannot be imported.
    """
    table = import_file_read(data=data, filename=filename)
    if mode not in DuplicateMode.values:
        raise ImportFileError(f"Unknown duplicate handling {mode!r}.")
    total_rows = table.count_rows()
    now = timezone.now()
    batch = ImportBatch(
        original_name=filename[:255],
        uploaded_by=actor,
        options={"mode": mode},
        status=ImportBatch.Status.CHECKING,
        total_rows=total_rows,
        consent_source=consent_source.strip(),
        consent_wording=consent_wording.strip(),
        consent_recorded_by=actor if consent_source.strip() else None,
        consent_recorded_at=now if consent_source.strip() else None,
    )
    with _django_file(data) as content:
        batch.file.save(filename or "leads.csv", content, save=False)
    if not dry_run:
        batch.status = ImportBatch.Status.RUNNING
        batch.save()
        return batch
    batch.save()
    if total_rows > settings.IMPORT_BACKGROUND_ROWS and not inline:
        import_dry_run_enqueue(batch.pk)
    else:
        import_batch_dry_run(batch=batch)  # from the stored copy: storage may have moved an upload's file
    return batch


def _stored_table(batch: ImportBatch) -> Table:
    return import_file_read(data=batch.file, filename=batch.original_name)


def _fail(batch: ImportBatch, message: str) -> None:
    batch.status, batch.error_message, batch.finished_at = ImportBatch.Status.FAILED, message, timezone.now()
    batch.save(update_fields=["status", "error_message", "finished_at"])


def import_batch_dry_run(*, batch: ImportBatch) -> ImportPlan | None:
    """Plan the batch's stored file and store the would-be counts and samples. Writes no leads."""
    try:
        plan = import_plan(table=_stored_table(batch), mode=batch.options.get("mode", "skip"), region=_region())
    except ImportFileError as exc:
        _fail(batch, str(exc))
        return None
    batch_record_result(batch=batch, plan=plan, status=ImportBatch.Status.PREVIEWED)
    return plan


def import_batch_confirm(*, batch_id: int, actor) -> ImportBatch:
    """Start writing a previewed batch: inline when small, in the worker when big.

    A batch can be confirmed once; a second confirm raises ImportStateError.
    """
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != ImportBatch.Status.PREVIEWED:
            raise ImportStateError(f"This import is {batch.get_status_display().lower()}; it cannot be confirmed.")
        batch.status, batch.processed_rows = ImportBatch.Status.RUNNING, 0
        batch.save(update_fields=["status", "processed_rows"])
    if batch.total_rows > settings.IMPORT_BACKGROUND_ROWS:
        import_run_enqueue(batch.pk, actor.pk if actor else None)
    else:
        import_batch_run(batch_id=batch.pk, actor=actor)
    batch.refresh_from_db()
    return batch


def import_batch_run(*, batch_id: int, actor) -> ImportBatch:
    """Re-plan the stored file against today's database and write it as it goes, chunk by
    chunk, recording progress; then queue the new leads' enrichment once they are committed."""
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.status != ImportBatch.Status.RUNNING:
        return batch  # already finished (a retried task must not import twice)
    try:
        plan = ImportPlan(table=_stored_table(batch), mode=batch.options.get("mode", "skip"), region=_region())
    except ImportFileError as exc:
        _fail(batch, str(exc))
        return batch
    try:
        created = import_execute(
            plan=plan, batch=batch, actor=actor,
            on_progress=lambda done: ImportBatch.objects.filter(pk=batch.pk).update(processed_rows=done),
        )
    except ImportFileError as exc:  # the stored file changed since it was checked
        batch_record_result(batch=batch, plan=plan, status=ImportBatch.Status.FAILED)
        _fail(batch, str(exc))
        return batch
    if created and CompanySettings.load().auto_assign_leads:
        leads_round_robin(leads=Lead.objects.filter(source_batch=batch), via=f"round-robin: import #{batch.pk}")
    batch_record_result(batch=batch, plan=plan, status=ImportBatch.Status.DONE)
    if created:
        batch_enrichment_enqueue(batch.pk)
    return batch


@dataclass
class RevertResult:
    deleted: int = 0
    kept: list[dict] = field(default_factory=list)


ACTIVITY_KINDS = [TimelineEvent.Kind.MESSAGE_OUT, TimelineEvent.Kind.MESSAGE_IN, TimelineEvent.Kind.PAYMENT,
                  TimelineEvent.Kind.CALL, TimelineEvent.Kind.CHECKOUT_SENT]


@transaction.atomic
def import_batch_revert(*, batch: ImportBatch, actor) -> RevertResult:
    """Undo a finished import: delete the leads it created that have had no activity since.

    A lead is kept (and reported with the reason) when a text was sent to or received
    from it, it was called, or it became a client or paid.
    """
    if batch.status != ImportBatch.Status.DONE:
        raise ImportStateError(f"Only finished imports can be undone; this one is {batch.get_status_display().lower()}.")
    leads = Lead.objects.filter(source_batch=batch).annotate(
        has_message=Exists(Message.objects.filter(lead=OuterRef("pk"))),
        has_activity=Exists(TimelineEvent.objects.filter(lead=OuterRef("pk"), kind__in=ACTIVITY_KINDS)),
    ).select_related("client")
    result = RevertResult()
    deletable = []
    for lead in leads.iterator(chunk_size=2000):
        reason = ""
        if lead.status == Lead.Status.PAID or hasattr(lead, "client"):
            reason = "paid / became a client"
        elif lead.has_message:
            reason = "has text messages"
        elif lead.has_activity:
            reason = "has calls or other activity"
        if reason:
            result.kept.append({"lead": lead.pk, "business_name": lead.business_name, "reason": reason})
        else:
            deletable.append(lead.pk)
    for start in range(0, len(deletable), 2000):
        Lead.objects.filter(pk__in=deletable[start:start + 2000]).delete()
    result.deleted = len(deletable)
    batch.status = ImportBatch.Status.REVERTED
    batch.summary = {**batch.summary, "revert": {"deleted": result.deleted, "kept": result.kept[:500],
                                                 "kept_count": len(result.kept), "by": actor.pk if actor else None,
                                                 "at": timezone.now().isoformat()}}
    batch.save(update_fields=["status", "summary"])
    return result
