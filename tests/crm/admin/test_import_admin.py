"""Lead import in the admin: upload on the Leads list -> dry-run page -> confirm -> counts,
the row report, background progress, undo, and what a rep may not do."""

import csv
import io
from unittest.mock import patch

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_q.tasks import async_task as real_async_task

from crm.models import ImportBatch, Lead
from crm.services.imports import batches as batch_service
from crm.services.imports.batches import import_batch_create
from tests.crm.services.imports.support import HEADER, csv_bytes, db_counts, e164, import_now, leads_csv
from tests.factories import ImportBatchFactory, LeadFactory, MessageFactory

pytestmark = pytest.mark.django_db

IMPORT_URL = "/admin/crm/lead/import/"


def _upload(client, data: bytes, name: str = "leads.csv", **fields):
    form = {"import_file": SimpleUploadedFile(name, data), "duplicates": "skip",
            "consent_source": "", "consent_wording": "", **fields}
    return client.post(IMPORT_URL, form)


def _batch_url(batch, view: str = "change") -> str:
    return reverse(f"admin:crm_importbatch_{view}", args=[batch.pk])


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_upload_form_lists_what_the_file_needs(admin_client):
    response = admin_client.get(IMPORT_URL)

    assert response.status_code == 200
    assert b"Check file (dry run)" in response.content
    assert b"companyname" in response.content  # the accepted aliases are shown


def test_upload_preview_confirm_counts(admin_client, admin_user):
    LeadFactory(phone=e164(1), business_name="Already Here")
    data = csv_bytes([HEADER + ["Notes"],
                      ["Alpha Bakery", "(212) 300-0000", "Albany", "x"],
                      ["Beta Bikes", "(212) 300-0001", "Troy", ""],
                      ["Gamma Gym", "(212) 300-0002", "Utica", ""],
                      ["Gamma Gym again", "212-300-0002", "Utica", ""],
                      ["Broken Phone Co", "12345", "Rome", ""]])

    response = _upload(admin_client, data, consent_source="Website form", consent_wording="I agree")

    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _batch_url(batch)
    assert Lead.objects.count() == 1  # the dry run wrote nothing

    page = admin_client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Dry run: nothing has been written yet" in html
    assert "Would create" in html
    for action, count in {"new": 2, "update": 0, "skip": 1, "duplicate": 1, "invalid": 1}.items():
        assert f'data-count="{action}">{count}<' in html
    for sample in ("Alpha Bakery", "Gamma Gym", "+12123000002", "duplicate of row 4",
                   "already in the CRM", "Phone is not a valid phone number", "Ignored columns: &quot;Notes&quot;."):
        assert sample in html
    assert _batch_url(batch, "confirm") in html

    response = admin_client.post(_batch_url(batch, "confirm"))

    assert response.status_code == 302
    assert _messages(response) == ["Imported: 2 created, 0 updated, 1 skipped, 1 duplicates, 1 invalid."]
    batch.refresh_from_db()
    assert (batch.status, batch.uploaded_by, batch.original_name) == (ImportBatch.Status.DONE, admin_user, "leads.csv")
    assert (batch.created_count, batch.skipped_count, batch.duplicate_count, batch.error_count) == (2, 1, 1, 1)
    assert (batch.consent_source, batch.consent_wording) == ("Website form", "I agree")
    assert sorted(Lead.objects.filter(source_batch=batch).values_list("business_name", flat=True)) == [
        "Alpha Bakery", "Gamma Gym"]
    done_page = admin_client.get(_batch_url(batch)).content.decode()
    assert "Created" in done_page and 'data-count="new">2<' in done_page
    assert _batch_url(batch, "report") in done_page


def test_preview_escapes_file_content(admin_client):
    _upload(admin_client, csv_bytes([HEADER, ["<script>alert(1)</script>", "(212) 555-0143", "<b>Troy</b>"]]))

    html = admin_client.get(_batch_url(ImportBatch.objects.get())).content.decode()

    assert "<script>alert(1)</script>" not in html and "<b>Troy</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_confirming_twice_shows_an_error_and_changes_nothing(admin_client, admin_user):
    batch = import_batch_create(data=leads_csv(2), filename="leads.csv", actor=admin_user)
    first = admin_client.post(_batch_url(batch, "confirm"))
    assert _messages(first) == ["Imported: 2 created, 0 updated, 0 skipped, 0 duplicates, 0 invalid."]
    admin_client.get(first["Location"])  # shows (and so uses up) that message
    after_first = db_counts()

    response = admin_client.post(_batch_url(batch, "confirm"))

    assert response.status_code == 302
    assert _messages(response) == ["This import is done; it cannot be confirmed."]
    assert db_counts() == after_first
    assert Lead.objects.count() == 2


def test_confirm_by_get_does_nothing(admin_client, admin_user):
    batch = import_batch_create(data=leads_csv(2), filename="leads.csv", actor=admin_user)

    response = admin_client.get(_batch_url(batch, "confirm"))

    assert response.status_code == 302
    assert Lead.objects.count() == 0


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"", "leads.csv", "The submitted file is empty."),  # Django's own check, before ours
    (b"Business Name,Phone\r\n", "leads.csv", "The file has a header row but no data rows."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00", "logo.png",
     "This does not look like a spreadsheet: it contains binary data. Upload a CSV, TSV or XLSX file."),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "leads.xls",
     "Old Excel .xls files are not supported; save it as .xlsx or CSV."),
    (b"Company,Town\r\nAcme,Albany\r\n", "leads.csv",
     'Missing required column(s): phone. Columns found: "Company", "Town". '
     'Rename a column (e.g. "Business Name", "Phone") and try again.'),
])
def test_bad_upload_shows_the_message_on_the_form_and_writes_nothing(admin_client, data, name, message):
    LeadFactory()
    before = db_counts()

    response = _upload(admin_client, data, name)

    assert response.status_code == 200
    assert response.context["form"].errors["import_file"] == [message]
    assert db_counts() == before


def test_upload_over_the_size_limit_is_refused_by_the_form(admin_client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1_048_576
    data = b"Business Name,Phone,Notes\r\nAcme,(212) 555-0143," + b"x" * (2 * 1_048_576) + b"\r\n"

    response = _upload(admin_client, data)

    assert response.context["form"].errors["import_file"] == ["The file is 2.0 MB; the limit is 1 MB."]
    assert db_counts() == {"leads": 0, "batches": 0, "timeline": 0}


def test_consent_wording_without_a_source_is_refused(admin_client):
    response = _upload(admin_client, leads_csv(1), consent_wording="I agree")

    assert response.context["form"].errors["consent_source"] == [
        "Say where the consent was given, or leave the wording empty."]
    assert db_counts() == {"leads": 0, "batches": 0, "timeline": 0}


def test_duplicate_mode_chosen_on_the_form_is_used(admin_client):
    existing = LeadFactory(phone=e164(0), business_name="Old", city="")

    _upload(admin_client, leads_csv(1), duplicates="fill")
    batch = ImportBatch.objects.get()
    admin_client.post(_batch_url(batch, "confirm"))

    existing.refresh_from_db()
    assert (existing.business_name, existing.city) == ("Old", "Albany")
    assert ImportBatch.objects.get().updated_count == 1


def test_row_report_downloads_as_csv_with_formulas_neutralised(admin_client, admin_user):
    LeadFactory(phone="+12125550143")
    data = csv_bytes([["Business Name", "=Phone", "Email", "State"],
                      ["Formula Phone", '=HYPERLINK("http://evil.example","x")', "", ""],
                      ["At Mail", "(212) 555-0144", "@SUM(1+1)", ""],
                      ["Plus State", "(212) 555-0145", "", "+cmd|' /C calc'!A0"],
                      ["Minus Phone", "-2+3", "", ""],
                      ["Existing", "(212) 555-0143", "", ""]])
    batch = import_now(data, "leads.csv", admin_user)

    response = admin_client.get(_batch_url(batch, "report"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == f'attachment; filename="import-{batch.pk}-report.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["row", "column", "value", "reason"],
        ["2", "'=Phone", "'=HYPERLINK(\"http://evil.example\",\"x\")", "is not a phone number"],
        ["3", "Email", "'@SUM(1+1)", "is not an email address"],
        ["4", "State", "'+cmd|' /C calc'!A0", "is not a US state"],
        ["5", "'=Phone", "'-2+3", "is not a phone number"],
        ["6", "'=Phone", "+12125550143", "already in the CRM"],  # a bare E.164 number stays as it is
    ]


def test_background_import_shows_progress_and_finishes(admin_client, settings, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    """Over IMPORT_BACKGROUND_ROWS the upload queues the dry run after commit (django-q2 runs
    it at once in tests, sync=True); the page polls the progress JSON while the run goes."""
    settings.IMPORT_BACKGROUND_ROWS = 5
    monkeypatch.setattr("crm.services.imports.execute.WRITE_CHUNK", 5)

    with django_capture_on_commit_callbacks(execute=False) as upload_callbacks:
        response = _upload(admin_client, leads_csv(20), "big.csv")
    batch = ImportBatch.objects.get()
    progress_url = _batch_url(batch, "progress")

    page = admin_client.get(response["Location"]).content.decode()
    assert "Checking rows (dry run)" in page and progress_url in page
    assert admin_client.get(progress_url).json() == {"status": "checking", "processed": 0, "total": 20, "percent": 0}

    for callback in upload_callbacks:
        callback()  # the request's commit: the dry-run task is queued and runs
    assert admin_client.get(progress_url).json()["status"] == "previewed"
    assert 'data-count="new">20<' in admin_client.get(_batch_url(batch)).content.decode()

    seen_while_running = []
    real_execute = batch_service.import_execute

    def execute_and_poll(**kwargs):
        def on_progress(done):
            kwargs["on_progress"](done)
            seen_while_running.append(admin_client.get(progress_url).json())
        return real_execute(**{**kwargs, "on_progress": on_progress})

    monkeypatch.setattr(batch_service, "import_execute", execute_and_poll)
    with patch("crm.enqueue.async_task", side_effect=_run_all_but_enrichment), \
            django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(_batch_url(batch, "confirm"))

    assert seen_while_running == [
        {"status": "running", "processed": done, "total": 20, "percent": done * 5} for done in (5, 10, 15, 20)]
    assert admin_client.get(progress_url).json() == {"status": "done", "processed": 20, "total": 20, "percent": 100}
    assert _messages(response) == ["Imported: 20 created, 0 updated, 0 skipped, 0 duplicates, 0 invalid."]
    assert Lead.objects.filter(source_batch=batch).count() == 20


def _run_all_but_enrichment(func, *args, **kwargs):
    """Stands in for crm.enqueue.async_task: the import run goes through django-q2 (sync in
    tests), the enrichment of its leads is left out."""
    if func == "crm.tasks.pipeline.batch_enrichment_dispatch_task":
        return None
    return real_async_task(func, *args, **kwargs)


# --- Undo ---------------------------------------------------------------------------------------


@pytest.fixture
def done_batch(admin_user):
    batch = import_now(leads_csv(3), "leads.csv", admin_user)
    MessageFactory(lead=Lead.objects.get(phone=e164(1)))
    return batch


def test_undo_detail_action_asks_first_then_reverts(admin_client, done_batch):
    url = _batch_url(done_batch, "revert_import")
    assert url == f"/admin/crm/importbatch/{done_batch.pk}/revert_import/"
    assert url in admin_client.get(_batch_url(done_batch)).content.decode()

    confirm_page = admin_client.get(url)

    assert confirm_page.status_code == 200
    assert b"Yes, undo the import" in confirm_page.content
    assert Lead.objects.count() == 3

    response = admin_client.post(url)

    assert response.status_code == 302
    assert _messages(response) == [
        f"{done_batch}: deleted 2 lead(s) with no activity; kept 1: Business 1 (has text messages)."]
    assert list(Lead.objects.values_list("phone", flat=True)) == [e164(1)]
    done_batch.refresh_from_db()
    assert done_batch.status == ImportBatch.Status.REVERTED
    assert b"2 lead(s) deleted, 1 kept" in admin_client.get(_batch_url(done_batch)).content


def test_undo_bulk_action_reverts_done_batches_and_refuses_others(admin_client, admin_user, done_batch):
    previewed = import_batch_create(data=leads_csv(2, start=10), filename="later.csv", actor=admin_user)

    response = admin_client.post(reverse("admin:crm_importbatch_changelist"), {
        "action": "revert_imports", "_selected_action": [done_batch.pk, previewed.pk]})

    assert response.status_code == 302
    assert sorted(_messages(response)) == sorted([
        f"{done_batch}: deleted 2 lead(s) with no activity; kept 1: Business 1 (has text messages).",
        f"{previewed}: Only finished imports can be undone; this one is previewed: waiting for confirmation.",
    ])
    assert dict(ImportBatch.objects.values_list("pk", "status")) == {
        done_batch.pk: ImportBatch.Status.REVERTED, previewed.pk: ImportBatch.Status.PREVIEWED}
    assert Lead.objects.count() == 1


# --- Reps ---------------------------------------------------------------------------------------


def test_rep_cannot_import(rep_client):
    assert rep_client.get(IMPORT_URL).status_code == 403
    assert _upload(rep_client, leads_csv(2)).status_code == 403
    assert db_counts() == {"leads": 0, "batches": 0, "timeline": 0}


def test_rep_cannot_see_or_touch_import_batches(rep_client, admin_user):
    batch = import_batch_create(data=leads_csv(2), filename="leads.csv", actor=admin_user)
    done = ImportBatchFactory()

    assert rep_client.get(reverse("admin:crm_importbatch_changelist")).status_code == 403
    assert rep_client.get(_batch_url(batch)).status_code == 403
    assert rep_client.get(_batch_url(batch, "progress")).status_code == 404
    assert rep_client.get(_batch_url(batch, "report")).status_code == 404
    assert rep_client.post(_batch_url(batch, "confirm")).status_code == 403
    assert rep_client.get(_batch_url(done, "revert_import")).status_code == 403
    assert rep_client.post(_batch_url(done, "revert_import")).status_code == 403
    assert rep_client.post(reverse("admin:crm_importbatch_changelist"), {
        "action": "revert_imports", "_selected_action": [done.pk]}).status_code == 403
    assert b"/admin/crm/importbatch/" not in rep_client.get("/admin/").content  # not in the sidebar
    batch.refresh_from_db()
    done.refresh_from_db()
    assert (batch.status, done.status) == (ImportBatch.Status.PREVIEWED, ImportBatch.Status.DONE)
    assert Lead.objects.count() == 0
