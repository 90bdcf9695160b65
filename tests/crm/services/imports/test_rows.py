"""Row validation: every problem reported with row number, the file's column name, value and reason."""

import random

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.models import Lead
from crm.services.imports.batches import import_preview
from crm.services.imports.rows import SIMPLE_EMAIL, nanp_prefix_valid, normalise_phone
from tests.crm.services.imports.support import csv_bytes, import_now

pytestmark = pytest.mark.django_db

HEADER = ["Company", "Mobile", "E-mail", "Web", "State", "Zip", "Town"]
ROWS = [
    ["Good Co", "(212) 555-0143", "OWNER@Example.COM", "example.com", "New York", "2134", "Albany"],  # row 2
    ["Short Phone", "12345", "", "", "", "", ""],                       # 3
    ["Words Phone", "call me", "", "", "", "", ""],                     # 4
    ["Bad Mail", "(212) 555-0144", "not-an-email", "", "", "", ""],     # 5
    ["Bad Site", "(212) 555-0145", "", "not a website", "", "", ""],    # 6
    ["Bad State", "(212) 555-0146", "", "", "Narnia", "", ""],          # 7
    ["Bad Zip", "(212) 555-0147", "", "", "", "ABCDE", ""],             # 8
    ["", "(212) 555-0148", "", "", "", "", "Troy"],                     # 9
    ["Two Problems", "", "a@b", "", "", "", ""],                        # 10
    ["Plain Site", "(212) 555-0149", "", "http://plain.example.org/menu", "tx", "12345-6789", ""],  # 11
]


def _preview(rows=ROWS, header=HEADER):
    return import_preview(data=csv_bytes([header, *rows]), filename="leads.csv", mode="skip")


def test_each_problem_reported_with_row_column_value_and_reason():
    plan = _preview()

    assert plan.report() == [
        {"row": 3, "column": "Mobile", "value": "12345", "reason": "is not a valid phone number"},
        {"row": 4, "column": "Mobile", "value": "call me", "reason": "is not a phone number"},
        {"row": 5, "column": "E-mail", "value": "not-an-email", "reason": "is not an email address"},
        {"row": 6, "column": "Web", "value": "not a website", "reason": "is not a website address"},
        {"row": 7, "column": "State", "value": "Narnia", "reason": "is not a US state"},
        {"row": 8, "column": "Zip", "value": "ABCDE", "reason": "is not a US ZIP code (12345 or 12345-6789)"},
        {"row": 9, "column": "Company", "value": "", "reason": "is required"},
        {"row": 10, "column": "Mobile", "value": "", "reason": "is required"},
        {"row": 10, "column": "E-mail", "value": "a@b", "reason": "is not an email address"},
    ]
    assert plan.counts == {"new": 2, "update": 0, "skip": 0, "duplicate": 0, "invalid": 8, "total": 10}


def test_valid_values_are_normalised():
    plan = _preview()
    good, plain = (r.data for r in plan.rows if r.action == "new")

    assert good == {"business_name": "Good Co", "city": "Albany", "country": "US", "phone": "+12125550143",
                    "email": "owner@example.com", "website": "https://example.com", "state": "NY",
                    "postcode": "02134"}
    assert (plain["website"], plain["state"], plain["postcode"]) == (
        "http://plain.example.org/menu", "TX", "12345-6789")


def test_confirmed_import_writes_only_valid_rows_and_keeps_the_report(admin_user):
    batch = import_now(csv_bytes([HEADER, *ROWS]), "leads.csv", admin_user)

    assert (batch.created_count, batch.error_count) == (2, 8)
    assert sorted(Lead.objects.values_list("business_name", flat=True)) == ["Good Co", "Plain Site"]
    assert len(batch.error_report) == 9
    assert batch.error_report[0] == {"row": 3, "column": "Mobile", "value": "12345",
                                     "reason": "is not a valid phone number"}


@pytest.mark.parametrize(("written", "code"), [
    ("New York", "NY"), ("new york", "NY"), ("NEW-YORK", "NY"), ("N.Y.", "NY"), ("ny", "NY"),
    ("District of Columbia", "DC"), ("Rhode Island", "RI"), ("Puerto Rico", "PR"), ("texas", "TX"),
])
def test_state_names_become_codes(written, code):
    plan = _preview(rows=[["Stateful", "(212) 555-0143", "", "", written, "", ""]])

    assert plan.rows[0].action == "new"
    assert plan.rows[0].data["state"] == code


def test_row_numbers_count_the_header_and_skip_nothing_for_blank_lines():
    # Blank lines are not rows to import, but numbering follows the file so people can find them.
    plan = _preview(rows=[ROWS[0], ["", "", "", "", "", "", ""], ROWS[1]])

    assert [(r.row, r.action) for r in plan.rows] == [(2, "new"), (4, "invalid")]


def test_non_us_rows_keep_their_own_state_and_postcode():
    header = ["Business Name", "Phone", "Province", "Postal Code", "Country"]
    plan = import_preview(data=csv_bytes([header, ["Maple Co", "(613) 555-0143", "Ontario", "K1A 0B1", "Canada"],
                                          ["Thames Co", "+44 20 7183 8750", "London", "SW1A 1AA", "UK"]]),
                          filename="leads.csv", mode="skip")

    assert [r.action for r in plan.rows] == ["new", "new"]
    assert plan.rows[0].data.items() >= {"phone": "+16135550143", "state": "Ontario", "postcode": "K1A 0B1",
                                         "country": "CA"}.items()
    assert plan.rows[1].data["phone"] == "+442071838750"
    assert plan.rows[1].data["country"] == "GB"


@pytest.mark.parametrize(("raw", "expected"), [
    ("(212) 555-0143", "+12125550143"),
    ("212.555.0143", "+12125550143"),
    ("+1 212 555 0143", "+12125550143"),
    ("1-212-555-0143", "+12125550143"),
    ("1.2125550143E10", "+12125550143"),
    ("1.2125550143e+10", "+12125550143"),
    ("12125550143.0", "+12125550143"),
    ("2125550143.00", "+12125550143"),
    ("+44 20 7183 8750", "+442071838750"),
])
def test_phone_to_e164(raw, expected):
    assert normalise_phone(raw, "US") == (expected, "")


@pytest.mark.parametrize(("raw", "reason"), [
    ("", "is required"), ("555-0143", "is not a valid phone number"), ("n/a", "is not a phone number"),
    ("+1 555 123 4567", "is not a valid phone number"),
])
def test_phone_problems(raw, reason):
    assert normalise_phone(raw, "US") == (None, reason)


def test_canadian_number_in_a_us_file_is_still_accepted():
    # The US fast path says no; the full parser still knows it is a valid +1 number.
    assert normalise_phone("(613) 555-0143", "US") == ("+16135550143", "")


@pytest.mark.parametrize("region", ["US", "CA"])
def test_nanp_validity_depends_only_on_area_code_and_exchange(region):
    """rows.nanp_prefix_valid caches validity per first 6 digits; that is sound only while
    every US/CA pattern ends in 4 free digits. Compare with phonenumbers' full check on a
    sample of prefixes (and the narrow branches of the personal-number pattern)."""
    rng = random.Random(region)
    prefixes = {f"{rng.randint(200, 999)}{rng.randint(200, 999)}" for _ in range(1500)}
    prefixes |= {"523555", "524949", "524521", "983200", "800200", "900200", "212555", "613555", "416300"}
    for prefix in sorted(prefixes):
        for suffix in ("0000", f"{rng.randint(1, 9998):04d}", "9999"):
            number = phonenumbers.PhoneNumber(country_code=1, national_number=int(prefix + suffix))
            assert nanp_prefix_valid(region, prefix) == phonenumbers.is_valid_number_for_region(number, region), (
                region, prefix + suffix)


def test_zip_stored_as_a_number_with_trailing_zero_is_repaired():
    from crm.services.imports.rows import _postcode

    assert _postcode("2134.0", "US") == ("02134", "")
    assert _postcode("78701.00", "US") == ("78701", "")


@given(st.from_regex(SIMPLE_EMAIL, fullmatch=True))
@settings(max_examples=300, deadline=None)
def test_every_email_the_fast_check_accepts_djangos_validator_accepts(email):
    EmailValidator()(email)  # raises ValidationError otherwise


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@mail.example.com", "x_y-z@sub-domain.example.org",
                                   'quoted."odd"@example.com', "tld-digits@example.c0m", "dot..twice@example.com",
                                   "trailing.@example.com", "no-at.example.com", "a@-dash.example.com",
                                   "a@localhost", "üser@example.com", "a@b"])
def test_an_email_is_accepted_exactly_when_djangos_validator_accepts_it(email):
    try:
        EmailValidator()(email)
        expected = True
    except ValidationError:
        expected = False

    plan = _preview([["Some Co", "(212) 555-0143", email, "", "", "", ""]])

    assert (plan.rows[0].data.get("email") == email) is expected, plan.report()


def test_an_email_too_long_for_the_database_is_that_rows_problem_only():
    long_email = "a" * 250 + "@example.com"
    plan = _preview([["Long Mail", "(212) 555-0143", long_email, "", "", "", ""],
                     ["Fine Co", "(212) 555-0144", "ok@example.com", "", "", "", ""]])

    assert plan.report() == [{"row": 2, "column": "E-mail", "value": long_email[:100],
                              "reason": "is longer than 254 characters"}]
    assert plan.counts["new"] == 1
