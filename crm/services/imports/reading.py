"""Turn an uploaded file (CSV, TSV, XLSX) into a header row and data rows.

Real spreadsheets arrive with byte-order marks, Excel's UTF-16 "Unicode text",
cp1252 accents, semicolons, several sheets and formulas. Every failure raises
ImportFileError with a message a person can act on; nothing is written.
"""

import codecs
import csv
import io
import sys
import zipfile
from dataclasses import dataclass, field

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
SNIFF_DELIMITERS = ",;\t|"

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a 1 MB cell is data, not an attack


class ImportFileError(Exception):
    """The file as a whole cannot be imported. The message says why, for a person."""


@dataclass
class ParsedFile:
    headers: list[str]
    rows: list[list[str]]
    file_format: str
    encoding: str = ""
    delimiter: str = ""
    notes: list[str] = field(default_factory=list)


def read_table(*, data: bytes, filename: str = "", max_bytes: int) -> ParsedFile:
    """Parse `data` into headers and rows, or raise ImportFileError."""
    if len(data) > max_bytes:
        raise ImportFileError(
            f"The file is {len(data) / 1_048_576:.1f} MB; the limit is {max_bytes / 1_048_576:.0f} MB. "
            "Split it into smaller files."
        )
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if data.startswith(XLSX_MAGIC):
        parsed = _read_xlsx(data)
    elif data.startswith(OLE_MAGIC):
        raise ImportFileError("Old Excel .xls files are not supported; save it as .xlsx or CSV.")
    else:
        parsed = _read_text(data, filename)
    parsed.headers = [h.strip() for h in parsed.headers]
    if not any(parsed.headers):
        raise ImportFileError("The first row must hold the column names; it is empty.")
    if not any(any(cell.strip() for cell in row) for row in parsed.rows):
        raise ImportFileError("The file has a header row but no data rows.")
    return parsed


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                "The file says it is UTF-8 but is not: save it again as \"CSV UTF-8\"."
            ) from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise ImportFileError("The file says it is UTF-16 but cannot be read as UTF-16.") from exc
    if b"\x00" in data[:4096]:
        # UTF-16 without a BOM: every other byte of ASCII text is NUL.
        sample = data[:4096]
        if sample[1::2].count(0) > len(sample) // 4:
            try:
                return data.decode("utf-16-le", errors="strict"), "utf-16-le"
            except UnicodeDecodeError:
                pass  # NULs where UTF-16 text has them, yet not UTF-16 (e.g. a GIF): binary
        raise ImportFileError(
            "This does not look like a spreadsheet: it contains binary data. "
            "Upload a CSV, TSV or XLSX file."
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        return text, "cp1252"


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    return controls > max(4, len(sample) // 50) or "\ufffd" * 3 in sample


def _read_text(data: bytes, filename: str) -> ParsedFile:
    text, encoding = _decode(data)
    if _looks_binary(text):
        raise ImportFileError(
            "This does not look like a spreadsheet: it contains binary data. "
            "Upload a CSV, TSV or XLSX file."
        )
    delimiter = _sniff_delimiter(text, filename)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        table = [row for row in reader]
    except csv.Error as exc:
        raise ImportFileError(f"The file could not be read as CSV: {exc}.") from exc
    while table and not any(cell.strip() for cell in table[0]):
        table.pop(0)  # leading blank lines before the header
    if not table:
        raise ImportFileError("The file is empty.")
    file_format = "tsv" if delimiter == "\t" else "csv"
    return ParsedFile(headers=table[0], rows=table[1:], file_format=file_format,
                      encoding=encoding, delimiter=delimiter)


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


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Excel stores phone numbers and ZIPs as floats
    return str(value).strip()


def _formulas_without_values(data: bytes) -> int:
    """Formula cells whose last result was never saved (openpyxl-written files have none)."""
    from openpyxl import load_workbook

    formulas = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    values = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
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


def _read_xlsx(data: bytes) -> ParsedFile:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError("The file looks like an Excel workbook but is damaged or unreadable.") from exc
    try:
        notes = []
        sheet = workbook.worksheets[0]
        if len(workbook.worksheets) > 1:
            names = ", ".join(ws.title for ws in workbook.worksheets)
            notes.append(f"The workbook has {len(workbook.worksheets)} sheets ({names}); "
                         f"only the first, '{sheet.title}', was read.")
        table = []
        for row in sheet.iter_rows(values_only=True):
            cells = [_cell_text(v) for v in row]
            if any(cells) or table:
                table.append(cells)
    finally:
        workbook.close()
    if not table:
        raise ImportFileError("The first sheet of the workbook is empty.")
    unsaved = _formulas_without_values(data)
    if unsaved:
        notes.append(f"{unsaved} cell(s) hold formulas with no saved result (the file was written by a "
                     "program, not saved by Excel); they were read as empty. Open and save the file in "
                     "Excel or LibreOffice to keep their values.")
    width = len(table[0])
    rows = [(r + [""] * width)[:max(width, len(r))] for r in table[1:]]
    return ParsedFile(headers=table[0], rows=rows, file_format="xlsx", notes=notes)
