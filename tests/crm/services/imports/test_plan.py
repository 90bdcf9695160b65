"""Duplicates (in the file, and against the CRM by E.164 phone), the three modes, and the dry run."""

import pytest

from crm.models import ImportBatch, Lead, TimelineEvent
from crm.services.imports.batches import import_batch_create, import_preview
from crm.services.imports.reading import ImportFileError
from tests.crm.services.imports.support import csv_bytes, db_counts, import_now
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

HEADER = ["Business Name", "Phone", "Email", "City", "Category"]


def _csv(*rows) -> bytes:
    return csv_bytes([HEADER, *rows])


def test_duplicates_within_the_file_point_at_the_first_row():
    data = _csv(["First", "(212) 555-0143", "", "Albany", ""],
                ["Other", "(212) 555-0144", "", "", ""],
                ["Same Phone Other Format", "+1 212.555.0143", "", "", ""],
                ["Again", "12125550143", "", "", ""])

    plan = import_preview(data=data, filename="leads.csv", mode="skip")

    assert [(r.row, r.action, r.reason) for r in plan.rows] == [
        (2, "new", ""), (3, "new", ""),
        (4, "duplicate", "duplicate of row 2"), (5, "duplicate", "duplicate of row 2")]
    assert plan.report() == [
        {"row": 4, "column": "Phone", "value": "+12125550143", "reason": "duplicate of row 2"},
        {"row": 5, "column": "Phone", "value": "+12125550143", "reason": "duplicate of row 2"},
    ]


def test_an_invalid_row_does_not_claim_its_phone():
    # Row 2 is invalid (no name), so row 3 with the same phone is the first real one.
    plan = import_preview(data=_csv(["", "(212) 555-0143", "", "", ""], ["Real", "(212) 555-0143", "", "", ""]),
                          filename="leads.csv", mode="skip")

    assert [r.action for r in plan.rows] == ["invalid", "new"]


def _existing() -> Lead:
    return LeadFactory(business_name="Old Name", phone="+12125550143", email="", city="Old City",
                       category="", state="NY")


def test_skip_mode_matches_the_crm_by_e164_phone_and_writes_nothing_to_it(admin_user):
    existing = _existing()
    data = _csv(["New Name", "(212) 555-0143", "new@example.com", "New City", "Bakery"],
                ["Fresh", "(212) 555-0144", "", "", ""])

    batch = import_now(data, "leads.csv", admin_user, mode="skip")

    assert (batch.created_count, batch.updated_count, batch.skipped_count) == (1, 0, 1)
    assert {"row": 2, "column": "Phone", "value": "+12125550143", "reason": "already in the CRM"} in batch.error_report
    existing.refresh_from_db()
    assert (existing.business_name, existing.email, existing.city, existing.category) == (
        "Old Name", "", "Old City", "")
    assert Lead.objects.count() == 2


def test_fill_mode_fills_only_empty_fields_and_never_overwrites(admin_user):
    existing = _existing()
    data = _csv(["New Name", "(212) 555-0143", "new@example.com", "New City", "Bakery"])

    batch = import_now(data, "leads.csv", admin_user, mode="fill")

    assert (batch.created_count, batch.updated_count, batch.skipped_count) == (0, 1, 0)
    existing.refresh_from_db()
    assert (existing.business_name, existing.email, existing.city, existing.category) == (
        "Old Name", "new@example.com", "Old City", "Bakery")
    event = TimelineEvent.objects.get(lead=existing, kind=TimelineEvent.Kind.IMPORTED)
    assert event.data == {"batch": batch.pk, "row": 2, "updated": ["category", "email"]}


def test_fill_mode_with_nothing_to_fill_skips(admin_user):
    LeadFactory(phone="+12125550143", email="old@example.com", city="Old City", category="Cafe")

    batch = import_now(_csv(["Whatever", "(212) 555-0143", "new@example.com", "New City", "Bakery"]),
                       "leads.csv", admin_user, mode="fill")

    assert (batch.updated_count, batch.skipped_count) == (0, 1)
    assert batch.error_report[0]["reason"] == "already in the CRM, nothing new"


def test_overwrite_mode_changes_values_but_empty_cells_never_blank_them(admin_user):
    existing = LeadFactory(business_name="Old Name", phone="+12125550143", email="keep@example.com",
                           city="Old City", category="Cafe")
    data = _csv(["New Name", "(212) 555-0143", "", "New City", ""])

    batch = import_now(data, "leads.csv", admin_user, mode="overwrite")

    assert (batch.created_count, batch.updated_count) == (0, 1)
    existing.refresh_from_db()
    assert (existing.business_name, existing.email, existing.city, existing.category) == (
        "New Name", "keep@example.com", "New City", "Cafe")


def test_dry_run_writes_nothing_and_previews_counts_and_samples(admin_user):
    existing = _existing()
    data = _csv(["New Name", "(212) 555-0143", "new@example.com", "New City", ""],
                ["Fresh One", "(212) 555-0144", "", "Troy", ""],
                ["Fresh One Again", "(212) 555-0144", "", "", ""],
                ["Broken", "nope", "", "", ""])
    before = db_counts()

    batch = import_batch_create(data=data, filename="leads.csv", actor=admin_user, mode="overwrite")

    assert db_counts() == before | {"batches": before["batches"] + 1}
    existing.refresh_from_db()
    assert (existing.business_name, existing.city) == ("Old Name", "Old City")
    assert batch.status == ImportBatch.Status.PREVIEWED
    assert (batch.created_count, batch.updated_count, batch.skipped_count, batch.duplicate_count,
            batch.error_count, batch.total_rows) == (1, 1, 0, 1, 1, 4)
    samples = batch.summary["samples"]
    assert samples["new"] == [{"row": 3, "business_name": "Fresh One", "phone": "+12125550144", "city": "Troy",
                               "reason": "", "changes": []}]
    assert samples["update"][0]["changes"] == ["business_name", "city", "email"]
    assert samples["duplicate"][0]["reason"] == "duplicate of row 3"
    assert samples["invalid"][0]["reason"] == "Phone is not a phone number"


def test_preview_without_a_batch_writes_nothing():
    before = db_counts()

    plan = import_preview(data=_csv(["A", "(212) 555-0143", "", "", ""]), filename="leads.csv", mode="skip")

    assert plan.counts["new"] == 1
    assert db_counts() == before


def test_unknown_mode_is_refused(admin_user):
    with pytest.raises(ImportFileError, match="Unknown duplicate handling 'replace'"):
        import_batch_create(data=_csv(["A", "(212) 555-0143", "", "", ""]), filename="leads.csv",
                            actor=admin_user, mode="replace")
    assert ImportBatch.objects.count() == 0
