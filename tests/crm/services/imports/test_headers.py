"""Header matching: case, spaces and punctuation ignored, common aliases, unknown columns listed."""

import pytest

from crm.services.imports.batches import import_preview
from crm.services.imports.headers import map_columns
from crm.services.imports.reading import ImportFileError
from tests.crm.services.imports.support import csv_bytes


@pytest.mark.parametrize(("header", "field"), [
    ("Business Name", "business_name"),
    ("business_name", "business_name"),
    ("BUSINESS-NAME", "business_name"),
    ("company", "business_name"),
    ("Company", "business_name"),
    ("company_name", "business_name"),
    ("Company Name ", "business_name"),
    ("NAME", "business_name"),
    ("\ufeffBusiness Name", "business_name"),  # a BOM that survived decoding
    ("Phone", "phone"),
    ("Phone Number", "phone"),
    ("phone_number", "phone"),
    ("Phone #", "phone"),
    ("Mobile", "phone"),
    ("Tel", "phone"),
    ("Tel.", "phone"),
    ("Telephone", "phone"),
    ("Zip", "postcode"),
    ("ZIP Code", "postcode"),
    ("Postal Code", "postcode"),
    ("postcode", "postcode"),
    ("E-mail", "email"),
    ("Email Address", "email"),
    ("Website URL", "website"),
    ("State/Province", "state"),
    ("First Name", "contact_first_name"),
    ("Last Name", "contact_last_name"),
    ("Street Address", "address"),
    ("Town", "city"),
    ("Industry", "category"),
])
def test_header_aliases(header, field):
    required = {"business_name": "Company", "phone": "Phone"}
    headers = [header] + [h for f, h in required.items() if f != field]

    columns = map_columns(headers)

    assert columns.fields[field] == 0
    assert columns.unknown == []


def test_unknown_columns_are_listed_and_ignored():
    columns = map_columns(["Business Name", "Favourite Colour", "Phone", "Notes", ""])

    assert columns.fields == {"business_name": 0, "phone": 2}
    assert columns.unknown == ["Favourite Colour", "Notes"]


def test_first_of_two_columns_for_one_field_wins_and_the_other_is_listed():
    columns = map_columns(["Company", "Phone", "Mobile", "Business Name"])

    assert columns.fields == {"business_name": 0, "phone": 1}
    assert columns.unknown == ["Mobile", "Business Name"]


@pytest.mark.parametrize(("headers", "missing"), [
    (["Company", "City"], "phone"),
    (["Mobile", "City"], "business name"),
    (["City", "Email"], "business name, phone"),
])
def test_missing_required_columns_named_with_the_columns_found(headers, missing):
    with pytest.raises(ImportFileError) as refused:
        map_columns(headers)

    found = ", ".join(f'"{h}"' for h in headers)
    assert str(refused.value) == (f"Missing required column(s): {missing}. Columns found: {found}. "
                                  'Rename a column (e.g. "Business Name", "Phone") and try again.')


@pytest.mark.django_db
def test_preview_notes_list_ignored_columns_and_the_mapping():
    data = csv_bytes([["Company Name", "Tel", "Postal Code", "Lead Score", "Notes"],
                      ["Acme", "(212) 555-0143", "10001", "9", "call after 5"]])

    plan = import_preview(data=data, filename="leads.csv", mode="skip")

    assert plan.notes == ['Ignored columns: "Lead Score", "Notes".']
    assert plan.column_headers == {"business_name": "Company Name", "phone": "Tel", "postcode": "Postal Code"}
    assert plan.rows[0].data["postcode"] == "10001"
