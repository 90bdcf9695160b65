"""Reading real spreadsheets: bad files are refused with a message and write nothing;
messy but valid files (encodings, delimiters, quoting, huge cells, XLSX quirks) import.

Files go through `import_batch_create`, the entry point the admin and the command share.
"""

import codecs
import random
import struct
import zlib

import pytest

from crm.models import ImportBatch, Lead
from crm.services.imports.batches import import_batch_create
from crm.services.imports.reading import ImportFileError
from tests.crm.services.imports.support import HEADER, csv_bytes, db_counts, import_now, xlsx_bytes
from tests.factories import ImportBatchFactory, LeadFactory

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    """A real 1x1 PNG: signature, IHDR, IDAT, IEND."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


# A 1x1 GIF: its NULs sit where UTF-16 text has them, so it once crashed the UTF-16 sniffing.
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
       b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
BINARY = "This does not look like a spreadsheet: it contains binary data"

BAD_FILES = [
    pytest.param(b"", "leads.csv", "The file is empty.", id="empty"),
    pytest.param(b" \r\n\r\n  ", "leads.csv", "The file is empty.", id="only-blank-lines"),
    pytest.param(b"Business Name,Phone,City\r\n", "leads.csv", "header row but no data rows", id="header-only"),
    pytest.param(b"Business Name,Phone\r\n,\r\n , \r\n", "leads.csv", "header row but no data rows",
                 id="header-and-blank-rows"),
    pytest.param(random.Random(7).randbytes(4000), "leads.csv", BINARY, id="random-bytes"),
    pytest.param(_png(), "leads.csv", BINARY, id="png"),
    pytest.param(GIF, "leads.csv", BINARY, id="gif"),
    pytest.param(b"\x00" * 1001, "leads.csv", BINARY, id="odd-length-nuls"),
    pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "leads.xls",
                 "Old Excel .xls files are not supported; save it as .xlsx or CSV.", id="legacy-xls"),
    pytest.param(b"PK\x03\x04 this is not really a workbook", "leads.xlsx",
                 "looks like an Excel workbook but is damaged or unreadable", id="damaged-xlsx"),
    pytest.param(b"\xef\xbb\xbfBusiness Name,Phone\r\nCaf\xe9,2125550143\r\n", "leads.csv",
                 'The file says it is UTF-8 but is not: save it again as "CSV UTF-8".', id="bom-but-cp1252"),
    pytest.param(b"\xff\xfeB\x00u\x00s", "leads.txt", "says it is UTF-16 but cannot be read", id="broken-utf16"),
]


@pytest.mark.parametrize(("data", "filename", "message"), BAD_FILES)
def test_bad_file_is_refused_with_a_message_and_writes_nothing(data, filename, message, admin_user):
    LeadFactory()
    ImportBatchFactory()
    before = db_counts()

    with pytest.raises(ImportFileError) as refused:
        import_batch_create(data=data, filename=filename, actor=admin_user)

    assert message in str(refused.value)
    assert db_counts() == before


def test_missing_required_column_names_the_columns_found(admin_user):
    data = csv_bytes([["Company", "Town", "E-mail"], ["Acme", "Albany", "a@example.com"]])

    with pytest.raises(ImportFileError) as refused:
        import_batch_create(data=data, filename="leads.csv", actor=admin_user)

    assert str(refused.value).startswith("Missing required column(s): phone. "
                                         'Columns found: "Company", "Town", "E-mail".')
    assert db_counts() == {"leads": 0, "batches": 0, "timeline": 0}


def test_file_over_the_size_limit_is_refused(settings, admin_user):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1_048_576
    rows = [HEADER] + [[f"Business {i}", "(212) 555-0143", "x" * 100] for i in range(12_000)]
    data = csv_bytes(rows)
    assert 1.4 * 1_048_576 < len(data) < 1.6 * 1_048_576

    with pytest.raises(ImportFileError) as refused:
        import_batch_create(data=data, filename="leads.csv", actor=admin_user)

    assert str(refused.value) == "The file is 1.5 MB; the limit is 1 MB. Split it into smaller files."
    assert db_counts() == {"leads": 0, "batches": 0, "timeline": 0}


# --- Files that must work -------------------------------------------------------------------


def test_utf8_with_bom(admin_user):
    data = codecs.BOM_UTF8 + "Business Name,Phone\r\nBäckerei Böhm,(212) 555-0143\r\n".encode()

    batch = import_now(data, "leads.csv", admin_user)

    assert batch.created_count == 1
    assert batch.summary["columns"]["business_name"] == "Business Name"  # the BOM is not part of it
    assert batch.summary["unknown_columns"] == []
    assert Lead.objects.get().business_name == "Bäckerei Böhm"


def test_utf16_le_with_bom_tab_delimited_excel_unicode_text(admin_user):
    text = "Business Name\tPhone\tCity\r\nCafé Zoë\t(212) 555-0143\tNew York\r\nŁódź Deli\t212-555-0144\tAlbany\r\n"
    data = codecs.BOM_UTF16_LE + text.encode("utf-16-le")

    batch = import_now(data, "leads.txt", admin_user)

    assert batch.summary["file_format"] == "tsv"
    assert sorted(Lead.objects.values_list("business_name", "city")) == [
        ("Café Zoë", "New York"), ("Łódź Deli", "Albany")]


def test_cp1252_with_accents(admin_user):
    data = "Business Name,Phone,City\r\nCafé Müller,(212) 555-0143,Zürich Falls\r\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really not UTF-8

    import_now(data, "leads.csv", admin_user)

    lead = Lead.objects.get()
    assert (lead.business_name, lead.city) == ("Café Müller", "Zürich Falls")


def test_semicolon_delimiter_with_commas_inside_values(admin_user):
    # European Excel: semicolons between cells, decimal commas and commas in names inside.
    data = csv_bytes([["Business Name", "Phone", "Rating", "City"],
                      ["Smith, Jones & Co", "(212) 555-0143", "4,5", "Albany"],
                      ["Brown Ltd", "(212) 555-0144", "3,9", "Troy"]], delimiter=";")

    batch = import_now(data, "leads.csv", admin_user)

    assert batch.created_count == 2
    assert sorted(Lead.objects.values_list("business_name", "city")) == [
        ("Brown Ltd", "Troy"), ("Smith, Jones & Co", "Albany")]


def test_tab_delimiter_in_a_csv_named_file(admin_user):
    data = csv_bytes([HEADER, ["Tab & Co", "(212) 555-0143", "Albany"]], delimiter="\t")

    batch = import_now(data, "export.csv", admin_user)

    assert batch.summary["file_format"] == "tsv"
    assert Lead.objects.get().business_name == "Tab & Co"


def test_quoted_fields_with_commas_quotes_and_newlines(admin_user):
    data = (b'Business Name,Phone,Address,City\r\n'
            b'"Smith, Jones & Co","(212) 555-0143","12 Main St\nSuite 4",Albany\r\n'
            b'"The ""Best"" Pizza",212-555-0144,"1 Elm St, Floor 2",Troy\r\n')

    batch = import_now(data, "leads.csv", admin_user)

    assert batch.created_count == 2
    first = Lead.objects.get(phone="+12125550143")
    assert (first.business_name, first.address, first.city) == ("Smith, Jones & Co", "12 Main St\nSuite 4", "Albany")
    assert Lead.objects.get(phone="+12125550144").business_name == 'The "Best" Pizza'


def test_one_megabyte_cell_in_an_unknown_column_is_ignored(admin_user):
    data = csv_bytes([["Business Name", "Phone", "Notes"], ["Big Notes Inc", "(212) 555-0143", "x" * 1_048_576]])

    batch = import_now(data, "leads.csv", admin_user)

    assert batch.created_count == 1
    assert 'Ignored columns: "Notes".' in batch.summary["notes"]
    assert Lead.objects.get().business_name == "Big Notes Inc"


def test_one_megabyte_business_name_makes_only_that_row_invalid(admin_user):
    data = csv_bytes([HEADER, ["Fine One", "(212) 555-0143", "Albany"],
                      ["y" * 1_048_576, "(212) 555-0144", "Albany"],
                      ["Fine Two", "(212) 555-0145", "Troy"]])

    batch = import_now(data, "leads.csv", admin_user)

    assert (batch.created_count, batch.error_count) == (2, 1)
    assert batch.error_report == [{"row": 3, "column": "Business Name", "value": "y" * 100,
                                   "reason": "is longer than 255 characters"}]
    assert sorted(Lead.objects.values_list("business_name", flat=True)) == ["Fine One", "Fine Two"]


def test_xlsx_with_several_sheets_reads_the_first_and_says_so(admin_user):
    data = xlsx_bytes({
        "Leads": [HEADER, ["Sheet One Co", "(212) 555-0143", "Albany"]],
        "Old list": [HEADER, ["Sheet Two Co", "(212) 555-0144", "Troy"]],
        "Notes": [["anything"]],
    })

    batch = import_now(data, "leads.xlsx", admin_user)

    assert batch.summary["file_format"] == "xlsx"
    assert ("The workbook has 3 sheets (Leads, Old list, Notes); only the first, 'Leads', was read."
            in batch.summary["notes"])
    assert list(Lead.objects.values_list("business_name", flat=True)) == ["Sheet One Co"]


def test_xlsx_formulas_without_cached_values_read_as_empty(admin_user):
    """openpyxl (like most scripts) writes formulas without the value Excel would cache, and
    the import reads values, never formulas (data_only=True: no formula text reaches a lead).
    So such a cell is empty: in an optional column the row still imports with that field
    blank; in a required column the row is invalid and says which cell is missing."""
    data = xlsx_bytes({"Leads": [
        HEADER + ["Email"],
        ["Formula City Co", "(212) 555-0143", '=UPPER("albany")', "a@example.com"],
        ['=CONCAT("Formula ", "Name")', "(212) 555-0144", "Troy", ""],
    ]})

    batch = import_now(data, "leads.xlsx", admin_user)

    assert (batch.created_count, batch.error_count) == (1, 1)
    lead = Lead.objects.get()
    assert (lead.business_name, lead.city, lead.email) == ("Formula City Co", "", "a@example.com")
    assert batch.error_report == [{"row": 3, "column": "Business Name", "value": "", "reason": "is required"}]
    assert not Lead.objects.filter(city__startswith="=").exists()


def test_numbers_excel_mangled_become_e164_and_zips_get_their_zeros_back(admin_user):
    data = csv_bytes([
        ["Business Name", "Phone", "Zip"],
        ["Scientific", "1.2125550143E10", "2134"],
        ["Scientific plus", "1.2125550144E+10", "02134"],
        ["Trailing zero", "12125550145.0", "501"],
        ["Ten digits float", "2125550146.0", "123456789"],
    ])

    batch = import_now(data, "leads.csv", admin_user)

    assert (batch.created_count, batch.error_report) == (4, [])
    assert sorted(Lead.objects.values_list("phone", "postcode")) == [
        ("+12125550143", "02134"), ("+12125550144", "02134"), ("+12125550145", "00501"),
        ("+12125550146", "12345-6789")]


def test_excel_numbers_undone_but_555_area_code_is_still_not_a_real_number(admin_user):
    """1.5551234567E10 is read back as 15551234567 (+1 555 123 4567), which no carrier can
    text: 555 is not an area code. The row is reported with the value as the file had it."""
    data = csv_bytes([HEADER, ["Fake Area Code", "1.5551234567E10", "Albany"]])

    batch = import_now(data, "leads.csv", admin_user)

    assert batch.error_report == [{"row": 2, "column": "Phone", "value": "1.5551234567E10",
                                   "reason": "is not a valid phone number"}]


def test_xlsx_numeric_cells_phone_float_and_zip_int(admin_user):
    data = xlsx_bytes({"Sheet1": [
        ["Business Name", "Phone", "Postal Code"],
        ["Float phone", 12125550143.0, 2134],
        ["Int phone", 2125550144, 10001],
    ]})

    import_now(data, "leads.xlsx", admin_user)

    assert sorted(Lead.objects.values_list("business_name", "phone", "postcode")) == [
        ("Float phone", "+12125550143", "02134"), ("Int phone", "+12125550144", "10001")]


def test_xlsx_blank_rows_and_short_rows(admin_user):
    data = xlsx_bytes({"Sheet1": [
        [None, None, None],
        HEADER,
        ["Short Row Co", "(212) 555-0143"],
        [None, None, None],
        ["After Blank Co", "(212) 555-0144", "Troy"],
    ]})

    batch = import_now(data, "leads.xlsx", admin_user)

    assert (batch.created_count, batch.error_count, batch.total_rows) == (2, 0, 2)
    assert ImportBatch.objects.get().status == ImportBatch.Status.DONE


def test_xlsx_formulas_without_saved_results_are_reported_in_a_note():
    import io

    from openpyxl import Workbook

    from crm.services.imports.reading import table_open

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Business Name", "Phone", "Notes"])
    sheet.append(["Acme", "(212) 555-0143", "=1+1"])
    sheet.append(["Bravo", "(212) 555-0144", "=A2"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = table_open(source=buffer.getvalue(), filename="f.xlsx", max_bytes=10**7)
    assert any("2 cell(s) hold formulas with no saved result" in note for note in table.notes)
    assert next(table.rows())[2] == ""
