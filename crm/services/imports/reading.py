"""Turn an uploaded file (CSV, TSV, XLSX) into a header row and a stream of data rows.

Real spreadsheets arrive with byte-order marks, Excel's UTF-16 "Unicode text",
cp1252 accents, semicolons, several sheets and formulas. Every failure raises
ImportFileError with a message a person can act on; nothing is written.

The file is never held in memory whole: it is opened afresh for each pass and read a
row at a time, so a million-row file costs what a thousand-row one does.
"""

import codecs
import csv
import io
import os
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.core.files import File

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
SNIFF_DELIMITERS = ",;\t|"
HEAD_BYTES = 65536  # what the format, encoding and delimiter are judged on
SCAN_BYTES = 1 << 20  # read this much at a time when a pass must see the whole file
BINARY_MESSAGE = ("This does not look like a spreadsheet: it contains binary data. "
                  "Upload a CSV, TSV or XLSX file.")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a 1 MB cell is data, not an attack

Opener = Callable[[], BinaryIO]
# What an import reads: the file's bytes, a path, or a Django file (an upload or a stored file).
ImportSource = bytes | str | os.PathLike | File


class ImportFileError(Exception):
    """The file as a whole cannot be imported. The message says why, for a person."""


def source_opener(source: ImportSource) -> Opener:
    """A function that opens `source` for reading from its start, as often as it is called."""
    if isinstance(source, bytes):
        return lambda: io.BytesIO(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        return lambda: path.open("rb")
    storage = getattr(source, "storage", None)
    if storage is not None and getattr(source, "name", None):  # a stored FieldFile
        return lambda: storage.open(source.name, "rb")
    if hasattr(source, "temporary_file_path"):  # a big upload, already on disk
        path = Path(source.temporary_file_path())
        return lambda: path.open("rb")
    source.seek(0)
    data = source.read()  # a small upload, held in memory by Django already
    return lambda: io.BytesIO(data)


@dataclass
class Table:
    """A file's header row and the way to read its data rows, one at a time, once per pass."""

    opener: Opener
    headers: list[str]
    file_format: str
    encoding: str = ""
    delimiter: str = ""
    notes: list[str] = field(default_factory=list)

    def rows(self) -> Iterator[list[str]]:
        """Every data row after the header, blank ones included (they keep row numbers right).

        Raises ImportFileError when the file cannot be read to its end, or holds no data row.
        """
        reader = _xlsx_rows if self.file_format == "xlsx" else _text_rows
        any_data = False
        for cells in reader(self):
            if not any_data and any(cell.strip() for cell in cells):
                any_data = True
            yield cells
        if not any_data:
            raise ImportFileError("The file has a header row but no data rows.")

    def count_rows(self) -> int:
        """Read the whole file once: its number of data rows, or ImportFileError."""
        return sum(1 for _ in self.rows())


def table_open(*, source: ImportSource, max_bytes: int, filename: str = "") -> Table:
    """Check the file's size, format and encoding and read its header, or raise ImportFileError.

    Reads the head of the file (and, for text, scans the rest for its encoding); the rows are
    read by Table.rows().
    """
    opener = source_opener(source)
    with opener() as handle:
        size = handle.seek(0, io.SEEK_END)
        handle.seek(0)
        if size > max_bytes:
            raise ImportFileError(
                f"The file is {size / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB. "
                "Split it into smaller files."
            )
        head = handle.read(HEAD_BYTES)
        if not head.strip() and not _rest_has_content(handle):
            raise ImportFileError("The file is empty.")
    if head.startswith(XLSX_MAGIC):
        table = _open_xlsx(opener)
    elif head.startswith(OLE_MAGIC):
        raise ImportFileError("Old Excel .xls files are not supported; save it as .xlsx or CSV.")
    else:
        table = _open_text(opener, head, filename)
    table.headers = [h.strip() for h in table.headers]
    if not any(table.headers):
        raise ImportFileError("The first row must hold the column names; it is empty.")
    return table


def _rest_has_content(handle: BinaryIO) -> bool:
    while block := handle.read(SCAN_BYTES):
        if block.strip():
            return True
    return False


# --- text: CSV and TSV ---------------------------------------------------------------------


def _decodes(opener: Opener, encoding: str) -> bool:
    """Whether the whole file decodes strictly as `encoding` (read in blocks, nothing kept)."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        with opener() as handle:
            while block := handle.read(SCAN_BYTES):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _encoding(opener: Opener, head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        if not _decodes(opener, "utf-8"):
            raise ImportFileError("The file says it is UTF-8 but is not: save it again as \"CSV UTF-8\".")
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        if not _decodes(opener, "utf-16"):
            raise ImportFileError("The file says it is UTF-16 but cannot be read as UTF-16.")
        return "utf-16"
    sample = head[:4096]
    if b"\x00" in sample:
        # UTF-16 without a BOM: every other byte of ASCII text is NUL.
        if sample[1::2].count(0) > len(sample) // 4 and _decodes(opener, "utf-16-le"):
            return "utf-16-le"
        # NULs where UTF-16 text has them, yet not UTF-16 (e.g. a GIF): binary.
        raise ImportFileError(BINARY_MESSAGE)
    return "utf-8" if _decodes(opener, "utf-8") else "cp1252"


def _text_reader(table: Table, handle: BinaryIO):
    text = io.TextIOWrapper(handle, encoding=table.encoding, errors="replace", newline="")
    return csv.reader(text, delimiter=table.delimiter)


def _open_text(opener: Opener, head: bytes, filename: str) -> Table:
    encoding = _encoding(opener, head)
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    text = decoder.decode(head)
    if _looks_binary(text):
        raise ImportFileError(BINARY_MESSAGE)
    table = Table(opener=opener, headers=[], file_format="csv", encoding=encoding,
                  delimiter=_sniff_delimiter(text, filename))
    if table.delimiter == "\t":
        table.file_format = "tsv"
    with opener() as handle:
        reader = _text_reader(table, handle)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):  # leading blank lines before the header
                    table.headers = row
                    break
        except csv.Error as exc:
            raise ImportFileError(f"The file could not be read as CSV: {exc}.") from exc
    if not table.headers:
        raise ImportFileError("The file is empty.")
    return table


def _text_rows(table: Table) -> Iterator[list[str]]:
    with table.opener() as handle:
        reader = _text_reader(table, handle)
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    break  # the header, read again
            yield from reader
        except csv.Error as exc:
            raise ImportFileError(f"The file could not be read as CSV: {exc}.") from exc


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    return controls > max(4, len(sample) // 50) or "\ufffd" * 3 in sample


def _sniff_delimiter(text: str, filename: str) -> str:
    header = text.split("\n", 1)[0]
    if filename.lower().endswith((".tsv", ".tab")) or ("\t" in header and "," not in header):
        return "\t"
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in SNIFF_DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


# --- XLSX ------------------------------------------------------------------------------------


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores phone numbers and ZIPs as floats
    return str(value).strip()


def _workbook(handle: BinaryIO, data_only: bool = True):
    from openpyxl import load_workbook

    try:
        return load_workbook(handle, read_only=True, data_only=data_only)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError("The file looks like an Excel workbook but is damaged or unreadable.") from exc


def _sheet_rows(workbook) -> Iterator[list[str]]:
    """The first sheet's rows as text, from its first non-blank row (the header) on."""
    started = False
    for row in workbook.worksheets[0].iter_rows(values_only=True):
        cells = [_cell_text(v) for v in row]
        if started or any(cells):
            started = True
            yield cells


def _formulas_without_values(opener: Opener) -> int:
    """Formula cells whose last result was never saved (openpyxl-written files have none)."""
    with opener() as formulas_file, opener() as values_file:
        formulas, values = _workbook(formulas_file, data_only=False), _workbook(values_file)
        try:
            count = 0
            for formula_row, value_row in zip(formulas.worksheets[0].iter_rows(values_only=True),
                                              values.worksheets[0].iter_rows(values_only=True)):
                for formula, value in zip(formula_row, value_row):
                    if isinstance(formula, str) and formula.startswith("=") and value is None:
                        count += 1
            return count
        finally:
            formulas.close()
            values.close()


def _open_xlsx(opener: Opener) -> Table:
    notes = []
    with opener() as handle:
        workbook = _workbook(handle)
        try:
            sheet = workbook.worksheets[0]
            if len(workbook.worksheets) > 1:
                names = ", ".join(ws.title for ws in workbook.worksheets)
                notes.append(f"The workbook has {len(workbook.worksheets)} sheets ({names}); "
                             f"only the first, '{sheet.title}', was read.")
            headers = next(_sheet_rows(workbook), None)
        finally:
            workbook.close()
    if headers is None:
        raise ImportFileError("The first sheet of the workbook is empty.")
    unsaved = _formulas_without_values(opener)
    if unsaved:
        notes.append(f"{unsaved} cell(s) hold formulas with no saved result (the file was written by a "
                     "program, not saved by Excel); they were read as empty. Open and save the file in "
                     "Excel or LibreOffice to keep their values.")
    return Table(opener=opener, headers=headers, file_format="xlsx", notes=notes)


def _xlsx_rows(table: Table) -> Iterator[list[str]]:
    width = len(table.headers)
    with table.opener() as handle:
        workbook = _workbook(handle)
        try:
            rows = _sheet_rows(workbook)
            next(rows, None)  # the header
            for cells in rows:
                yield (cells + [""] * width)[:max(width, len(cells))]
        finally:
            workbook.close()
