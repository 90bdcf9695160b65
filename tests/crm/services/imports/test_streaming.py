"""The import streams: the file is read, checked and written a chunk at a time, duplicates are
found across chunks without keeping every row, and memory does not grow with the file."""

import re
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import ImportBatch, Lead, TimelineEvent
from crm.services.imports import batches as batch_service
from crm.services.imports import plan as plan_module
from crm.services.imports import reading
from crm.services.imports.batches import import_batch_create, import_batch_run, import_preview
from crm.services.imports.reading import table_open
from tests.crm.services.imports.support import HEADER, csv_bytes, import_now, lead_rows, phone

pytestmark = pytest.mark.django_db


@pytest.fixture
def chunk_of_five(monkeypatch):
    monkeypatch.setattr(plan_module, "PLAN_CHUNK", 5)
    monkeypatch.setattr("crm.services.imports.execute.WRITE_CHUNK", 5)


@pytest.mark.parametrize("in_memory", [plan_module.SEEN_IN_MEMORY, 3], ids=["phones-in-memory", "phones-in-a-table"])
def test_duplicates_are_found_across_chunks_and_point_at_the_first_row(chunk_of_five, monkeypatch, in_memory):
    monkeypatch.setattr(plan_module, "SEEN_IN_MEMORY", in_memory)
    rows = lead_rows(12)
    rows[3][1] = "not a phone"          # row 5, invalid: claims nothing
    rows[8][1] = phone(3)               # row 10 (chunk 2): same phone as invalid row 5, so the first
    rows[11][1] = phone(0)              # row 13 (chunk 3): duplicate of row 2 (chunk 1)
    rows.append(["Again", phone(0), ""])  # row 14 (chunk 3): also of row 2, not of row 13
    plan = import_preview(data=csv_bytes([HEADER, *rows]), filename="leads.csv", mode="skip")

    actions = {r.row: (r.action, r.reason) for r in plan.rows}
    assert actions[5][0] == "invalid"
    assert actions[10] == ("new", "")
    assert actions[13] == ("duplicate", "duplicate of row 2")
    assert actions[14] == ("duplicate", "duplicate of row 2")
    assert plan.counts == {"new": 10, "update": 0, "skip": 0, "duplicate": 2, "invalid": 1, "total": 13}


def test_the_crm_is_asked_about_each_chunk_once_by_phone(chunk_of_five):
    data = csv_bytes([HEADER, *lead_rows(20)])

    with CaptureQueriesContext(connection) as queries:
        plan = import_preview(data=data, filename="leads.csv", mode="skip", keep_rows=False)

    lookups = [q["sql"] for q in queries.captured_queries
               if re.search(r'FROM "crm_lead" WHERE "crm_lead"."phone" IN', q["sql"])]
    assert len(lookups) == 4  # 20 rows, 5 a chunk
    assert plan.counts["new"] == 20
    assert plan.rows is None  # nothing kept row by row


def test_the_table_of_phones_met_is_dropped_afterwards(chunk_of_five, monkeypatch):
    monkeypatch.setattr(plan_module, "SEEN_IN_MEMORY", 3)
    batch = import_now(csv_bytes([HEADER, *lead_rows(12), *lead_rows(2)]), "leads.csv", None)

    assert (batch.created_count, batch.duplicate_count) == (12, 2)  # found through the table

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE 'crm_import_seen_%%'")
        else:
            cursor.execute("SELECT name FROM sqlite_temp_master WHERE name LIKE 'crm_import_seen_%%'")
        assert cursor.fetchall() == []


def test_chunks_are_written_and_reported_as_they_go(admin_user, chunk_of_five, monkeypatch):
    batch = import_batch_create(data=csv_bytes([HEADER, *lead_rows(12)]), filename="leads.csv", actor=admin_user,
                                dry_run=False)
    seen = []
    real = batch_service.import_execute

    def watch(**kwargs):
        def progress(done):
            kwargs["on_progress"](done)
            seen.append((done, Lead.objects.count(), TimelineEvent.objects.count()))
        return real(**{**kwargs, "on_progress": progress})

    monkeypatch.setattr(batch_service, "import_execute", watch)
    batch_service.import_batch_run(batch_id=batch.pk, actor=admin_user)

    assert seen == [(5, 5, 5), (10, 10, 10), (12, 12, 12)]  # each chunk written before the next is read


def _peak_bytes(rows: int, admin_user) -> int:
    data = csv_bytes([HEADER, *lead_rows(rows)])
    tracemalloc.start()
    try:
        batch = import_batch_create(data=data, filename="leads.csv", actor=admin_user, dry_run=False)
        tracemalloc.reset_peak()
        batch = import_batch_run(batch_id=batch.pk, actor=admin_user)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        assert ImportBatch.objects.get(pk=batch.pk).created_count == rows


def test_memory_does_not_grow_with_the_file(admin_user, monkeypatch, settings):
    """Four times the rows, about the same peak: rows are not kept once written, and the phones
    met go to a table past their bound (on the old import, the whole file, parsed, and every
    planned row were in memory at once)."""
    settings.DEBUG = False  # no query log growing with the number of chunks
    monkeypatch.setattr(plan_module, "PLAN_CHUNK", 200)
    monkeypatch.setattr(plan_module, "SEEN_IN_MEMORY", 500)
    monkeypatch.setattr("crm.services.imports.execute.WRITE_CHUNK", 200)

    small = _peak_bytes(1_000, admin_user)
    Lead.objects.all().delete()
    large = _peak_bytes(4_000, admin_user)

    assert large < small * 1.5, (small, large)


def test_the_encoding_is_judged_on_the_whole_file_before_any_row(admin_user, monkeypatch):
    """A cp1252 byte far past the first block still makes the whole file cp1252: the encoding is
    settled by a scan before rows are read, never half-way through a write."""
    monkeypatch.setattr(reading, "SCAN_BYTES", 64)
    monkeypatch.setattr(reading, "HEAD_BYTES", 64)
    text = "Business Name,Phone,City\r\n" + "".join(f"Plain {i},{phone(i)},Troy\r\n" for i in range(50))
    data = text.encode("ascii") + "Café Zoë,(212) 555-0143,Troy\r\n".encode("cp1252")

    table = table_open(source=data, filename="leads.csv", max_bytes=10**6)
    batch = import_now(data, "leads.csv", admin_user)

    assert table.encoding == "cp1252"
    assert (batch.created_count, batch.error_count) == (51, 0)
    assert Lead.objects.filter(business_name="Café Zoë").exists()


def test_a_file_on_disk_is_read_from_disk(tmp_path, admin_user):
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes([HEADER, *lead_rows(3)]))

    batch = import_now(path, "leads.csv", admin_user)

    assert batch.created_count == 3
    batch.file.open("rb")
    try:
        assert batch.file.read() == path.read_bytes()  # stored whole, copied in chunks
    finally:
        batch.file.close()


def test_a_big_upload_is_read_from_its_temporary_file(admin_client, settings):
    """Uploads above FILE_UPLOAD_MAX_MEMORY_SIZE wait in a temporary file: the import reads it there."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    data = csv_bytes([HEADER, *lead_rows(3)])
    upload = SimpleUploadedFile("leads.csv", data)

    response = admin_client.post("/admin/crm/lead/import/", {"import_file": upload, "duplicates": "skip",
                                                             "consent_source": "", "consent_wording": ""})

    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.created_count, batch.total_rows) == (ImportBatch.Status.PREVIEWED, 3, 3)


def test_temporary_upload_source_is_opened_by_its_path(admin_user):
    data = csv_bytes([HEADER, *lead_rows(2)])
    upload = TemporaryUploadedFile("leads.csv", "text/csv", len(data), None)
    upload.write(data)
    upload.seek(0)
    try:
        opener = reading.source_opener(upload)
        with opener() as first, opener() as second:
            assert first.read() == data and second.read() == data  # independent handles
            assert first.name == upload.temporary_file_path()
    finally:
        upload.close()
    assert Lead.objects.count() == 0  # nothing written by opening


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_chunks_are_written_beside_the_planning(monkeypatch):
    """Committed work, as the command and the worker run it: on PostgreSQL the chunks are written
    by writer threads on their own connections while the next are planned; counts, progress (in
    file order), timeline and a phone taken meanwhile come out as when written one by one."""
    from crm.services.imports import execute

    monkeypatch.setattr(plan_module, "PLAN_CHUNK", 5)
    monkeypatch.setattr(execute, "WRITE_CHUNK", 5)
    Lead.objects.create(business_name="Raced in", phone="+12123000017")
    monkeypatch.setattr(plan_module, "_existing_by_phone", lambda phones, mode: {})  # the plan misses it
    data = csv_bytes([HEADER, *lead_rows(23), ["Again", phone(2), ""]])
    batch = import_batch_create(data=data, filename="leads.csv", actor=None, dry_run=False)
    progress = []
    real = batch_service.import_execute

    def watch(**kwargs):
        writers = execute._ChunkWriter(kwargs["batch"], None)
        progress.append(("writer threads", len(writers.pools)))
        writers.__exit__()

        def on_progress(done):
            kwargs["on_progress"](done)
            progress.append(done)
        return real(**{**kwargs, "on_progress": on_progress})

    monkeypatch.setattr(batch_service, "import_execute", watch)
    batch = batch_service.import_batch_run(batch_id=batch.pk, actor=None)

    threads = execute.WRITERS if connection.vendor == "postgresql" else 0
    assert progress == [("writer threads", threads), 5, 10, 15, 20, 24]
    assert (batch.status, batch.created_count, batch.skipped_count, batch.duplicate_count) == (
        ImportBatch.Status.DONE, 22, 1, 1)
    assert {"row": 19, "column": "Phone", "value": "+12123000017",
            "reason": "added to the CRM while the import ran"} in batch.error_report
    assert Lead.objects.filter(source_batch=batch).count() == 22
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.IMPORTED).count() == 22
