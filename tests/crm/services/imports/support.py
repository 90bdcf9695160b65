"""Build import files in memory for the import tests: CSV/TSV bytes, XLSX workbooks, phones."""

import csv
import io

from openpyxl import Workbook

HEADER = ["Business Name", "Phone", "City"]


def phone(i: int) -> str:
    """A valid New York number written as people type it: (212) 300-0000, (212) 300-0001 ..."""
    return f"(212) 3{i // 10000:02d}-{i % 10000:04d}"


def e164(i: int) -> str:
    """phone(i) in E.164, as the import stores it."""
    return f"+12123{i // 10000:02d}{i % 10000:04d}"


def lead_rows(count: int, start: int = 0) -> list[list[str]]:
    return [[f"Business {i}", phone(i), "Albany"] for i in range(start, start + count)]


def csv_text(rows: list[list], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def csv_bytes(rows: list[list], delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    return csv_text(rows, delimiter).encode(encoding)


def leads_csv(count: int, start: int = 0) -> bytes:
    return csv_bytes([HEADER, *lead_rows(count, start)])


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    """A workbook with one sheet per item, in order; cells keep their Python types."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def db_counts() -> dict[str, int]:
    """Rows an import could write; compare before and after to prove nothing was written."""
    from crm.models import ImportBatch, Lead, TimelineEvent

    return {"leads": Lead.objects.count(), "batches": ImportBatch.objects.count(),
            "timeline": TimelineEvent.objects.count()}


def import_now(data: bytes, filename: str, actor, **options):
    """Upload and confirm, as an admin clicking through: returns the finished batch."""
    from crm.services.imports.batches import import_batch_confirm, import_batch_create

    batch = import_batch_create(data=data, filename=filename, actor=actor, **options)
    return import_batch_confirm(batch_id=batch.pk, actor=actor)
