"""Write a planned import: create and update leads in chunks, record everything on the batch."""

from collections.abc import Callable

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from crm.models import ImportBatch, Lead, TimelineEvent
from crm.services.imports.plan import UPDATABLE_FIELDS, ImportPlan, PlannedRow

WRITE_CHUNK = 5000


def _new_lead(row: PlannedRow, batch: ImportBatch, consent_at) -> Lead:
    lead = Lead(source_batch=batch, **row.data)
    if batch.consent_source:
        lead.consent_source = batch.consent_source
        lead.consent_at = consent_at
    return lead


@transaction.atomic
def _copy_chunk(rows: list[PlannedRow], batch: ImportBatch, actor) -> tuple[list[int], list[PlannedRow]]:
    from crm.services.imports.pg_copy import copy_create_leads, copy_create_timeline

    extra = {"source_batch_id": batch.pk}
    if batch.consent_source:
        extra |= {"consent_source": batch.consent_source, "consent_at": batch.consent_recorded_at}
    inserted = copy_create_leads(rows=[r.data for r in rows], extra=extra)
    raced = []
    events = []
    for r in rows:
        lead_id = inserted.get(r.data["phone"])
        if lead_id is None:
            r.action, r.reason = "skip", "added to the CRM while the import ran"
            raced.append(r)
        else:
            events.append((lead_id, {"batch": batch.pk, "row": r.row}))
    copy_create_timeline(events=events, kind=TimelineEvent.Kind.IMPORTED, actor_id=actor.pk if actor else None)
    return [lead_id for lead_id, _ in events], raced


def _create_chunk(rows: list[PlannedRow], batch: ImportBatch, actor) -> tuple[list[int], list[PlannedRow]]:
    """Create the chunk's leads; rows whose phone appeared meanwhile are returned as skipped."""
    if connection.vendor == "postgresql":
        return _copy_chunk(rows, batch, actor)
    consent_at = batch.consent_recorded_at
    try:
        with transaction.atomic():
            leads = Lead.objects.bulk_create([_new_lead(r, batch, consent_at) for r in rows])
    except IntegrityError:
        # Another import or a person added one of these phones since the plan was made.
        taken = set(Lead.objects.filter(phone__in=[r.data["phone"] for r in rows]).values_list("phone", flat=True))
        raced = [r for r in rows if r.data["phone"] in taken]
        for r in raced:
            r.action, r.reason = "skip", "added to the CRM while the import ran"
        fresh = [r for r in rows if r.data["phone"] not in taken]
        with transaction.atomic():
            leads = Lead.objects.bulk_create([_new_lead(r, batch, consent_at) for r in fresh])
        rows = fresh
    else:
        raced = []
    TimelineEvent.objects.bulk_create(
        [TimelineEvent(lead=lead, kind=TimelineEvent.Kind.IMPORTED, actor=actor,
                       data={"batch": batch.pk, "row": row.row})
         for lead, row in zip(leads, rows)],
        batch_size=WRITE_CHUNK,
    )
    return [lead.pk for lead in leads], raced


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


def import_execute(*, plan: ImportPlan, batch: ImportBatch, actor,
                   on_progress: Callable[[int], None] | None = None) -> list[int]:
    """Apply `plan`: new rows become leads, update rows change only their planned fields.

    Works in chunks of WRITE_CHUNK rows, each in its own transaction, so a crash leaves
    whole chunks written and the batch's counts say how far it got. Returns created lead ids.
    """
    created_ids: list[int] = []
    rows = plan.rows
    done = 0
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start:start + WRITE_CHUNK]
        new_rows = [r for r in chunk if r.action == "new"]
        update_rows = [r for r in chunk if r.action == "update"]
        if new_rows:
            ids, _ = _create_chunk(new_rows, batch, actor)
            created_ids.extend(ids)
        if update_rows:
            _update_chunk(update_rows, batch, actor)
        done += len(chunk)
        if on_progress:
            on_progress(done)
    return created_ids


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
