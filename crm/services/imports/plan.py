"""Decide, row by row, what an import would do, without writing anything (the dry run).

Rows are read, checked and classified a chunk at a time: duplicates within the file are found
among the phones met so far (in memory up to a bound, then in a temporary table), and leads
already in the CRM through the phone index, one query per chunk. Memory stays flat in the
file's size.
"""

import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import batched

from django.db import DatabaseError, connection, models
from django.db.models.expressions import RawSQL

from crm.models import Lead
from crm.services.imports.headers import ColumnMap, map_columns
from crm.services.imports.reading import Table
from crm.services.imports.rows import RowError, clean_row

PLAN_CHUNK = 5000  # rows read, checked and looked up together
SEEN_IN_MEMORY = 200_000  # phones of one file kept in memory before a temporary table takes them
UPDATABLE_FIELDS = (
    "business_name", "contact_first_name", "contact_last_name", "email", "website", "address",
    "city", "state", "postcode", "country", "category",
)
ACTIONS = ("new", "update", "skip", "duplicate", "invalid")
SAMPLES_PER_ACTION = 5


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


class SeenPhones:
    """The phones met so far in one file, each with the row that first had it.

    Up to SEEN_IN_MEMORY phones are kept in a dict (some 25 MB); past that they move to a
    temporary table keyed by phone, so a million-row file does not hold a million phones in
    memory. Use as a context manager: the table, if any, is dropped on the way out.
    """

    def __init__(self):
        self.first: dict[str, int] | None = {}
        self.table = f"crm_import_seen_{secrets.token_hex(6)}"

    def __enter__(self) -> "SeenPhones":
        return self

    def __exit__(self, *exc) -> None:
        if self.first is not None:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
        except DatabaseError:
            pass  # the transaction failed and took the table with it, or the session ends it

    def meet(self, first_rows: dict[str, int]) -> dict[str, int]:
        """Note these phones with the row that first had each, in this chunk; return {phone: row}
        for those met in an earlier chunk (whose first row stays the one noted then)."""
        if not first_rows:
            return {}
        if self.first is not None:
            earlier = {phone: self.first[phone] for phone in first_rows if phone in self.first}
            for phone, row in first_rows.items():
                self.first.setdefault(phone, row)
            if len(self.first) > SEEN_IN_MEMORY:
                self._to_table()
            return earlier
        return self._meet_in_table(first_rows)

    def _to_table(self) -> None:
        first, self.first = self.first, None
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE {self.table} (phone varchar(20) PRIMARY KEY, row integer NOT NULL)")
        for part in batched(first.items(), PLAN_CHUNK):
            self._meet_in_table(dict(part))

    def _meet_in_table(self, first_rows: dict[str, int]) -> dict[str, int]:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Text parameters split by the server: no per-element array adaptation in Python.
                cursor.execute(
                    f"""WITH incoming (phone, row) AS (
                            SELECT * FROM unnest(string_to_array(%s, ','), string_to_array(%s, ',')::integer[])),
                        noted AS (
                            INSERT INTO {self.table} SELECT phone, row FROM incoming ON CONFLICT (phone) DO NOTHING)
                        SELECT seen.phone, seen.row FROM {self.table} seen JOIN incoming USING (phone)""",
                    [",".join(first_rows), ",".join(map(str, first_rows.values()))],
                )
                return dict(cursor.fetchall())  # the statement sees the table as it was before it
            earlier = {}
            for part in batched(first_rows, 500):
                cursor.execute(f"SELECT phone, row FROM {self.table} WHERE phone IN ({', '.join(['%s'] * len(part))})",
                               part)
                earlier.update(cursor.fetchall())
            cursor.executemany(f"INSERT INTO {self.table} (phone, row) VALUES (%s, %s)",
                               [(phone, row) for phone, row in first_rows.items() if phone not in earlier])
            return earlier


def _existing_by_phone(phones: list[str], mode: str) -> dict[str, dict]:
    """The leads already in the CRM with these phones (one chunk's worth), by the phone index."""
    wanted = ("id", "phone") + (UPDATABLE_FIELDS if mode != DuplicateMode.SKIP else ())
    if connection.vendor == "postgresql":
        # One text parameter instead of 5,000 placeholders (or an array adapted element by
        # element): the driver's work, not the index lookup, was most of the cost.
        rows = Lead.objects.filter(phone__in=RawSQL("SELECT unnest(string_to_array(%s, ','))", [",".join(phones)]))
        rows = rows.values(*wanted)
    else:
        rows = Lead.objects.filter(phone__in=phones).values(*wanted)
    return {values["phone"]: values for values in rows}


def _changes(existing: dict, data: dict, mode: str) -> dict:
    changes = {}
    for name in UPDATABLE_FIELDS:
        new = data.get(name)
        if not new or new == existing.get(name):
            continue
        if mode == DuplicateMode.OVERWRITE or not existing.get(name):
            changes[name] = new
    return changes


class ImportPlan:
    """What importing a file does, row by row: built one chunk at a time by `chunks()`.

    A writer takes each chunk, writes it (and may turn a row it could not write into a
    skip), then records it. Counts, samples and the
    per-row report grow with the problems found, never with the rows; `rows` keeps every
    planned row only when asked (`keep_rows`, for previews of small files).
    """

    def __init__(self, *, table: Table, mode: str, region: str, keep_rows: bool = False):
        if mode not in DuplicateMode.values:
            raise ValueError(f"Unknown duplicate mode {mode!r}")
        self.table, self.mode, self.region = table, mode, region
        self.columns: ColumnMap = map_columns(table.headers)
        self.file_format = table.file_format
        self.column_headers = self.columns.header_for(table.headers)
        self.notes = list(table.notes)
        if self.columns.unknown:
            self.notes.append("Ignored columns: " + ", ".join(f'"{c}"' for c in self.columns.unknown) + ".")
        self.rows: list[PlannedRow] | None = [] if keep_rows else None
        self._counts: Counter = Counter()
        self._samples: dict[str, list[dict]] = {action: [] for action in ACTIONS}
        self._report: list[dict] = []

    # --- building --------------------------------------------------------------------------

    def chunks(self, size: int | None = None) -> Iterator[list[PlannedRow]]:
        """The file's non-blank rows, planned `size` (PLAN_CHUNK) at a time, in file order. One
        pass only; pass each chunk to record() once it is written (or, in a dry run, at once)."""
        numbered = enumerate(self.table.rows(), start=2)  # the header is row 1
        with SeenPhones() as seen:
            for block in batched(numbered, size or PLAN_CHUNK):
                planned = self._plan(block, seen)
                if planned:
                    yield planned

    def check(self) -> "ImportPlan":
        """Plan the whole file without writing anything (the dry run)."""
        for chunk in self.chunks():
            self.record(chunk)
        return self

    def _plan(self, block: tuple[tuple[int, list[str]], ...], seen: SeenPhones) -> list[PlannedRow]:
        planned: list[PlannedRow] = []
        valid: list[PlannedRow] = []
        headers = self.table.headers
        for row_number, cells in block:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            data, errors = clean_row(cells=cells, row_number=row_number, columns=self.columns,
                                     headers=headers, region=self.region)
            row = PlannedRow(row_number, "invalid" if errors else "new", data, errors)
            planned.append(row)
            if not errors:
                valid.append(row)

        # Duplicates within the file: of a row in an earlier chunk, or earlier in this one.
        block_first: dict[str, int] = {}
        for row in valid:
            block_first.setdefault(row.data["phone"], row.row)
        earlier = seen.meet(block_first)
        fresh: dict[str, int] = {}
        new_rows: list[PlannedRow] = []
        for row in valid:
            phone = row.data["phone"]
            first = earlier.get(phone) or block_first[phone]
            if first != row.row:
                row.action, row.reason = "duplicate", f"duplicate of row {first}"
            else:
                fresh[phone] = row.row
                new_rows.append(row)

        # Leads already in the CRM.
        existing = _existing_by_phone(list(fresh), self.mode) if fresh else {}
        for row in new_rows:
            current = existing.get(row.data["phone"])
            if current is None:
                continue
            row.existing_id = current["id"]
            if self.mode == DuplicateMode.SKIP:
                row.action, row.reason = "skip", "already in the CRM"
                continue
            row.changes = _changes(current, row.data, self.mode)
            if row.changes:
                row.action = "update"
            else:
                row.action, row.reason = "skip", "already in the CRM, nothing new"
        return planned

    def record(self, planned: list[PlannedRow]) -> None:
        """Count a chunk, as written: a row the writer could not write is a skip by now."""
        phone_column = self.column_headers.get("phone", "phone")
        for row in planned:
            action = row.action
            self._counts[action] += 1
            bucket = self._samples[action]
            if len(bucket) < SAMPLES_PER_ACTION:
                bucket.append({
                    "row": row.row,
                    "business_name": row.data.get("business_name", ""),
                    "phone": row.data.get("phone", ""),
                    "city": row.data.get("city", ""),
                    "reason": row.reason or "; ".join(f"{e.column} {e.reason}" for e in row.errors),
                    "changes": sorted(row.changes),
                })
            if action == "invalid":
                self._report.extend(e.as_dict() for e in row.errors)
            elif action in ("duplicate", "skip"):
                self._report.append({"row": row.row, "column": phone_column,
                                     "value": row.data.get("phone", ""), "reason": row.reason})
        if self.rows is not None:
            self.rows.extend(planned)

    # --- results -----------------------------------------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        return {action: self._counts.get(action, 0) for action in ACTIONS} | {"total": sum(self._counts.values())}

    def samples(self) -> dict[str, list[dict]]:
        """The first few rows of each action, as the dry-run page shows them."""
        return self._samples

    def report(self) -> list[dict]:
        """One line per problem or skipped row: row, column, value, reason."""
        return self._report


def import_plan(*, table: Table, mode: str, region: str, keep_rows: bool = False) -> ImportPlan:
    """Classify every row as new, update, skip, duplicate or invalid. Reads, never writes leads."""
    return ImportPlan(table=table, mode=mode, region=region, keep_rows=keep_rows).check()
