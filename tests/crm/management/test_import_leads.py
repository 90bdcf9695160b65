"""manage.py import_leads: the admin's import path from the command line, one line of counts."""

import subprocess
import sys
from io import StringIO
from pathlib import Path
from unittest.mock import patch

import pytest
from django.core.management import CommandError, call_command

from crm.models import ImportBatch, Lead, TimelineEvent
from tests.crm.services.imports.support import csv_bytes, db_counts, e164, xlsx_bytes
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def _run(*args) -> str:
    out = StringIO()
    call_command("import_leads", *[str(a) for a in args], stdout=out)
    return out.getvalue()


@pytest.fixture
def existing():
    return LeadFactory(business_name="Old Name", phone=e164(2), city="", email="keep@example.com")


@pytest.fixture
def messy_csv(tmp_path, existing) -> Path:
    """Two new rows, one already in the CRM, one in-file duplicate, one invalid."""
    path = tmp_path / "leads.csv"
    path.write_bytes(csv_bytes([
        ["Company", "Mobile", "City", "Email"],
        ["New One", "(212) 300-0000", "Albany", ""],
        ["New Two", "212.300.0001", "Troy", ""],
        ["New Name", "(212) 300-0002", "Utica", ""],
        ["New One Again", "2123000000", "", ""],
        ["No Phone", "", "Rome", ""],
    ]))
    return path


def test_dry_run_prints_the_counts_and_writes_nothing(messy_csv):
    before = db_counts()

    output = _run(messy_csv, "--dry-run")

    assert output == "created=2 updated=0 skipped=1 duplicates=1 invalid=1\n"
    assert db_counts() == before


def test_import_writes_and_prints_the_same_counts(messy_csv, existing):
    output = _run(messy_csv)

    assert output == "created=2 updated=0 skipped=1 duplicates=1 invalid=1\n"
    batch = ImportBatch.objects.get()
    assert (batch.status, batch.original_name, batch.uploaded_by) == (ImportBatch.Status.DONE, "leads.csv", None)
    assert (batch.created_count, batch.skipped_count, batch.duplicate_count, batch.error_count) == (2, 1, 1, 1)
    assert sorted(Lead.objects.filter(source_batch=batch).values_list("business_name", flat=True)) == [
        "New One", "New Two"]
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.IMPORTED).count() == 2
    existing.refresh_from_db()
    assert (existing.business_name, existing.city) == ("Old Name", "")


def test_update_existing_overwrites(messy_csv, existing):
    output = _run(messy_csv, "--update-existing")

    assert output == "created=2 updated=1 skipped=0 duplicates=1 invalid=1\n"
    existing.refresh_from_db()
    assert (existing.business_name, existing.city, existing.email) == ("New Name", "Utica", "keep@example.com")


def test_dry_run_with_update_existing_previews_the_update(messy_csv, existing):
    assert _run(messy_csv, "--dry-run", "--update-existing") == "created=2 updated=1 skipped=0 duplicates=1 invalid=1\n"
    existing.refresh_from_db()
    assert existing.business_name == "Old Name"


def test_fill_empty_fills_only_empty_fields(messy_csv, existing):
    assert _run(messy_csv, "--fill-empty") == "created=2 updated=1 skipped=0 duplicates=1 invalid=1\n"
    existing.refresh_from_db()
    assert (existing.business_name, existing.city) == ("Old Name", "Utica")


def test_user_and_consent_are_recorded(messy_csv, admin_user):
    _run(messy_csv, "--user", admin_user.username, "--consent-source", "Trade show sign-up sheet",
         "--consent-wording", "Text me")

    batch = ImportBatch.objects.get()
    assert (batch.uploaded_by, batch.consent_recorded_by, batch.consent_source) == (
        admin_user, admin_user, "Trade show sign-up sheet")
    assert set(Lead.objects.filter(source_batch=batch).values_list("consent_source", flat=True)) == {
        "Trade show sign-up sheet"}
    assert {e.actor for e in TimelineEvent.objects.filter(kind=TimelineEvent.Kind.IMPORTED)} == {admin_user}


def test_unknown_user_is_refused_before_anything_is_written(messy_csv):
    before = db_counts()

    with pytest.raises(CommandError, match="No user named 'nobody'."):
        _run(messy_csv, "--user", "nobody")

    assert db_counts() == before


def test_xlsx_file(tmp_path):
    path = tmp_path / "leads.xlsx"
    path.write_bytes(xlsx_bytes({"Leads": [["Business Name", "Phone", "Zip"], ["Sheet Co", 12123000000.0, 2134]]}))

    assert _run(path) == "created=1 updated=0 skipped=0 duplicates=0 invalid=0\n"
    assert Lead.objects.values_list("phone", "postcode").get() == (e164(0), "02134")


def test_enrichment_is_queued_once_for_the_import(messy_csv, django_capture_on_commit_callbacks):
    with patch("crm.enqueue.async_task") as async_task, django_capture_on_commit_callbacks(execute=True):
        _run(messy_csv)

    batch = ImportBatch.objects.get()
    async_task.assert_called_once_with("crm.tasks.pipeline.batch_enrichment_dispatch_task", batch.pk,
                                       task_name=f"import-{batch.pk}-enrich")


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["import", "dry-run"])
def test_unreadable_path_is_a_command_error(tmp_path, dry_run):
    with pytest.raises(CommandError, match=r"Cannot read .*missing\.csv: No such file or directory"):
        _run(tmp_path / "missing.csv", *dry_run)
    with pytest.raises(CommandError, match="Cannot read"):
        _run(tmp_path, *dry_run)  # a directory


@pytest.mark.parametrize(("data", "message"), [
    (b"", "The file is empty."),
    (b"Business Name,Phone\r\n", "The file has a header row but no data rows."),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01", "it contains binary data"),
    (b"Company,Town\r\nAcme,Albany\r\n", 'Missing required column(s): phone. Columns found: "Company", "Town".'),
])
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["import", "dry-run"])
def test_bad_file_is_a_command_error_and_writes_nothing(tmp_path, data, message, dry_run):
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    LeadFactory()
    before = db_counts()

    with pytest.raises(CommandError) as failed:
        _run(path, *dry_run)

    assert message in str(failed.value)
    assert db_counts() == before


def test_exit_status_is_non_zero_when_the_file_cannot_be_read(tmp_path):
    # A real process: manage.py turns the CommandError into exit status 1 and a message on stderr.
    result = subprocess.run(
        [sys.executable, "manage.py", "import_leads", str(tmp_path / "missing.csv"), "--settings=settings.test"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 1
    assert "CommandError: Cannot read" in result.stderr
    assert result.stdout == ""
