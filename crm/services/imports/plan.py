"""Decide, row by row, what an import would do, without writing anything (the dry run)."""

from collections import Counter
from dataclasses import dataclass, field

from django.db import connection, models
from django.db.models.expressions import RawSQL

from crm.models import Lead
from crm.services.imports.headers import ColumnMap, map_columns
from crm.services.imports.reading import ParsedFile
from crm.services.imports.rows import RowError, clean_row

LOOKUP_CHUNK = 5000
UPDATABLE_FIELDS = (
    "business_name", "contact_first_name", "contact_last_name", "email", "website", "address",
    "city", "state", "postcode", "country", "category",
)
ACTIONS = ("new", "update", "skip", "duplicate", "invalid")


class DuplicateMode(models.TextChoices):
    SKIP = "skip", "Skip leads already in the CRM"
    FILL = "fill", "Fill empty fields of existing leads"
    OVERWRITE = "overwrite", "Overwrite existing leads with the file's values"


@dataclass
class PlannedRow:
    row: int
    action: str
    data: dict
    errors: list[RowError] = field(default_factory=list)
    reason: str = ""
    existing_id: int | None = None
    changes: dict = field(default_factory=dict)


@dataclass
class ImportPlan:
    rows: list[PlannedRow]
    columns: ColumnMap
    notes: list[str]
    file_format: str
    column_headers: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(r.action for r in self.rows)
        return {action: counted.get(action, 0) for action in ACTIONS} | {"total": len(self.rows)}

    def samples(self, per_action: int = 5) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {action: [] for action in ACTIONS}
        for planned in self.rows:
            bucket = out[planned.action]
            if len(bucket) < per_action:
                bucket.append({
                    "row": planned.row,
                    "business_name": planned.data.get("business_name", ""),
                    "phone": planned.data.get("phone", ""),
                    "city": planned.data.get("city", ""),
                    "reason": planned.reason or "; ".join(f"{e.column} {e.reason}" for e in planned.errors),
                    "changes": sorted(planned.changes),
                })
        return out

    def report(self) -> list[dict]:
        """One line per problem or skipped row: row, column, value, reason."""
        lines: list[dict] = []
        for planned in self.rows:
            if planned.action == "invalid":
                lines.extend(e.as_dict() for e in planned.errors)
            elif planned.action in ("duplicate", "skip"):
                lines.append({"row": planned.row, "column": self.column_headers.get("phone", "phone"),
                              "value": planned.data.get("phone", ""), "reason": planned.reason})
        return lines


def _existing_by_phone(phones: list[str], mode: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    wanted = ("id", "phone") + (UPDATABLE_FIELDS if mode != DuplicateMode.SKIP else ())
    for start in range(0, len(phones), LOOKUP_CHUNK):
        chunk = phones[start:start + LOOKUP_CHUNK]
        if connection.vendor == "postgresql":
            # One array parameter instead of 5,000 placeholders: the driver's query
            # rewriting, not the index lookup, was most of the cost.
            rows = Lead.objects.filter(phone__in=RawSQL("SELECT unnest(%s::text[])", [chunk])).values(*wanted)
        else:
            rows = Lead.objects.filter(phone__in=chunk).values(*wanted)
        for values in rows:
            found[values["phone"]] = values
    return found


def _changes(existing: dict, data: dict, mode: str) -> dict:
    changes = {}
    for name in UPDATABLE_FIELDS:
        new = data.get(name)
        if not new or new == existing.get(name):
            continue
        if mode == DuplicateMode.OVERWRITE or not existing.get(name):
            changes[name] = new
    return changes


def import_plan(*, parsed: ParsedFile, mode: str, region: str) -> ImportPlan:
    """Classify every row as new, update, skip, duplicate or invalid. Reads, never writes."""
    if mode not in DuplicateMode.values:
        raise ValueError(f"Unknown duplicate mode {mode!r}")
    columns = map_columns(parsed.headers)
    planned: list[PlannedRow] = []
    first_row_of_phone: dict[str, int] = {}
    for offset, cells in enumerate(parsed.rows):
        row_number = offset + 2  # the header is row 1
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are not rows
        data, errors = clean_row(cells=cells, row_number=row_number, columns=columns,
                                 headers=parsed.headers, region=region)
        if errors:
            planned.append(PlannedRow(row_number, "invalid", data, errors))
            continue
        phone = data["phone"]
        if phone in first_row_of_phone:
            planned.append(PlannedRow(row_number, "duplicate", data,
                                      reason=f"duplicate of row {first_row_of_phone[phone]}"))
            continue
        first_row_of_phone[phone] = row_number
        planned.append(PlannedRow(row_number, "new", data))

    existing = _existing_by_phone(list(first_row_of_phone), mode)
    for row in planned:
        if row.action != "new" or row.data["phone"] not in existing:
            continue
        current = existing[row.data["phone"]]
        row.existing_id = current["id"]
        if mode == DuplicateMode.SKIP:
            row.action, row.reason = "skip", "already in the CRM"
            continue
        row.changes = _changes(current, row.data, mode)
        if row.changes:
            row.action = "update"
        else:
            row.action, row.reason = "skip", "already in the CRM, nothing new"
    notes = list(parsed.notes)
    if columns.unknown:
        notes.append("Ignored columns: " + ", ".join(f'"{c}"' for c in columns.unknown) + ".")
    return ImportPlan(rows=planned, columns=columns, notes=notes, file_format=parsed.file_format,
                      column_headers=columns.header_for(parsed.headers))
