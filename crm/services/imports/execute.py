"""Write a planned import: create and update leads in chunks, record everything on the batch."""

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from crm.models import ImportBatch, Lead, TimelineEvent
from crm.services.imports.plan import UPDATABLE_FIELDS, ImportPlan, PlannedRow

WRITE_CHUNK = 5000
WRITERS = 2  # database connections writing chunks at once (PostgreSQL, outside a transaction)


def _new_lead(row: PlannedRow, batch: ImportBatch, consent_at) -> Lead:
    lead = Lead(source_batch=batch, **row.data)
    if batch.consent_source:
        lead.consent_source = batch.consent_source
        lead.consent_at = consent_at
    return lead


@transaction.atomic
def _copy_chunk(rows: list[PlannedRow], batch: ImportBatch, actor) -> int:
    from crm.services.imports.pg_copy import copy_create_leads

    extra = {"source_batch_id": batch.pk}
    if batch.consent_source:
        extra |= {"consent_source": batch.consent_source, "consent_at": batch.consent_recorded_at}
    created, taken = copy_create_leads(rows=[(r.row, r.data) for r in rows], extra=extra,
                                       actor_id=actor.pk if actor else None, event_data={"batch": batch.pk})
    for r in rows:
        if r.data["phone"] in taken:
            r.action, r.reason = "skip", "added to the CRM while the import ran"
    return created


def _create_chunk(rows: list[PlannedRow], batch: ImportBatch, actor) -> int:
    """Create the chunk's leads; rows whose phone appeared meanwhile become skips. Returns leads created."""
    if connection.vendor == "postgresql":
        return _copy_chunk(rows, batch, actor)
    consent_at = batch.consent_recorded_at
    try:
        with transaction.atomic():
            leads = Lead.objects.bulk_create([_new_lead(r, batch, consent_at) for r in rows])
    except IntegrityError:
        # Another import or a person added one of these phones since the plan was made.
        taken = set(Lead.objects.filter(phone__in=[r.data["phone"] for r in rows]).values_list("phone", flat=True))
        for r in rows:
            if r.data["phone"] in taken:
                r.action, r.reason = "skip", "added to the CRM while the import ran"
        fresh = [r for r in rows if r.data["phone"] not in taken]
        with transaction.atomic():
            leads = Lead.objects.bulk_create([_new_lead(r, batch, consent_at) for r in fresh])
        rows = fresh
    TimelineEvent.objects.bulk_create(
        [TimelineEvent(lead=lead, kind=TimelineEvent.Kind.IMPORTED, actor=actor,
                       data={"batch": batch.pk, "row": row.row})
         for lead, row in zip(leads, rows)],
        batch_size=WRITE_CHUNK,
    )
    return len(leads)


@transaction.atomic
def _update_chunk(rows: list[PlannedRow], batch: ImportBatch, actor) -> None:
    by_id = {r.existing_id: r for r in rows}
    leads = list(Lead.objects.select_for_update().filter(pk__in=by_id).only("pk", *UPDATABLE_FIELDS))
    touched: set[str] = set()
    for lead in leads:
        for name, value in by_id[lead.pk].changes.items():
            setattr(lead, name, value)
            touched.add(name)
    if touched:
        Lead.objects.bulk_update(leads, sorted(touched))
    TimelineEvent.objects.bulk_create([
        TimelineEvent(lead_id=lead.pk, kind=TimelineEvent.Kind.IMPORTED, actor=actor,
                      data={"batch": batch.pk, "row": by_id[lead.pk].row,
                            "updated": sorted(by_id[lead.pk].changes)})
        for lead in leads
    ])


def _write_chunk(chunk: list[PlannedRow], batch: ImportBatch, actor) -> int:
    """Write one planned chunk; returns the leads created (rows that raced become skips)."""
    created = 0
    new_rows = [r for r in chunk if r.action == "new"]
    update_rows = [r for r in chunk if r.action == "update"]
    if new_rows:
        created = _create_chunk(new_rows, batch, actor)
    if update_rows:
        _update_chunk(update_rows, batch, actor)
    return created


class _ChunkWriter:
    """Writes chunks. On PostgreSQL outside a transaction, in WRITERS threads of their own, each
    with its own connection, so the database writes chunks k and k+1 at once while this thread
    reads and plans chunk k+2; otherwise (SQLite, or inside a caller's transaction, whose
    uncommitted rows another connection could not see) at once, in the caller's thread."""

    def __init__(self, batch: ImportBatch, actor):
        self.batch, self.actor = batch, actor
        self.pools: list[ThreadPoolExecutor] = []
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self.pools = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
                          for _ in range(WRITERS)]
        self.submitted = 0

    @property
    def in_flight(self) -> int:
        """How many chunks may be written at once before the oldest must be waited for."""
        return max(1, len(self.pools))

    def submit(self, chunk: list[PlannedRow]) -> Future:
        self.submitted += 1
        if self.pools:
            return self.pools[self.submitted % len(self.pools)].submit(_write_chunk, chunk, self.batch, self.actor)
        done = Future()
        try:
            done.set_result(_write_chunk(chunk, self.batch, self.actor))
        except Exception as exc:  # noqa: BLE001 - raised to the caller by result(), as from the thread
            done.set_exception(exc)
        return done

    def __enter__(self) -> "_ChunkWriter":
        return self

    def __exit__(self, *exc) -> None:
        for pool in self.pools:
            pool.submit(connections.close_all).result()  # that writer thread's connection
            pool.shutdown()


def import_execute(*, plan: ImportPlan, batch: ImportBatch, actor,
                   on_progress: Callable[[int], None] | None = None) -> int:
    """Apply `plan` as it is built: new rows become leads, update rows change only their planned fields.

    Reads, plans and writes WRITE_CHUNK rows at a time, each chunk in its own transaction, so
    memory stays flat in the file's size and a crash leaves whole chunks written (the batch's
    progress says how far it got). Chunks are written while the next ones are planned (see
    _ChunkWriter); each is counted, in file order, once written. Returns the leads created.
    """
    created = 0
    done = 0
    writing: deque[tuple[list[PlannedRow], Future]] = deque()
    with _ChunkWriter(batch, actor) as writer:
        for chunk in plan.chunks(WRITE_CHUNK):  # the next chunk is planned while the last are written
            if len(writing) >= writer.in_flight:
                created, done = _written(plan, *writing.popleft(), created, done, on_progress)
            writing.append((chunk, writer.submit(chunk)))
        while writing:
            created, done = _written(plan, *writing.popleft(), created, done, on_progress)
    return created


def _written(plan: ImportPlan, chunk: list[PlannedRow], write: Future, created: int, done: int,
             on_progress: Callable[[int], None] | None) -> tuple[int, int]:
    created += write.result()
    plan.record(chunk)
    done += len(chunk)
    if on_progress:
        on_progress(done)
    return created, done


def batch_record_result(*, batch: ImportBatch, plan: ImportPlan, status: str) -> None:
    """Store counts, notes and the per-row report on the batch."""
    counts = plan.counts
    batch.status = status
    batch.total_rows = counts["total"]
    batch.processed_rows = counts["total"]
    batch.created_count = counts["new"]
    batch.updated_count = counts["update"]
    batch.skipped_count = counts["skip"]
    batch.duplicate_count = counts["duplicate"]
    batch.error_count = counts["invalid"]
    batch.error_report = plan.report()
    batch.summary = {
        "samples": plan.samples(),
        "notes": plan.notes,
        "unknown_columns": plan.columns.unknown,
        "file_format": plan.file_format,
        "columns": plan.column_headers,
    }
    if status in (ImportBatch.Status.DONE, ImportBatch.Status.FAILED):
        batch.finished_at = timezone.now()
    batch.save()
