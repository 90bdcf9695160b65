"""Validate and normalise one imported row into lead fields."""

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from crm.integrations.us_states import US_STATE_CODES, US_STATE_NAMES
from crm.services.imports.headers import ColumnMap

_letters = re.compile(r"[^a-z]")
US_STATES = {_letters.sub("", name.lower()): code for name, code in US_STATE_NAMES.items()}
COUNTRY_NAMES = {"usa": "US", "unitedstates": "US", "unitedstatesofamerica": "US", "us": "US",
                 "canada": "CA", "ca": "CA", "uk": "GB", "unitedkingdom": "GB", "greatbritain": "GB"}
MAX_LENGTHS = {"business_name": 255, "contact_first_name": 100, "contact_last_name": 100,
               "address": 255, "city": 100, "category": 100, "email": 254, "website": 500}
TEXT_FIELDS = ("business_name", "contact_first_name", "contact_last_name", "address", "city", "category")
SCIENTIFIC = re.compile(r"^\s*\d+(\.\d+)?[eE]\+?\d+\s*$")
US_ZIP = re.compile(r"^(\d{5})(?:-?(\d{4}))?$")
_email_validator = EmailValidator()
# Addresses Django's EmailValidator accepts, in the shape nearly all have: checked ~10x faster.
SIMPLE_EMAIL = re.compile(r"^[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")
_url_validator = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


NANP_REGIONS = {"US", "CA"}
NANP_PUNCTUATION = re.compile(r"^\+?[\d\s().-]+$")
NON_DIGITS = re.compile(r"\D")
TRAILING_ZEROS = re.compile(r"^\d+\.0+$")


@lru_cache(maxsize=200_000)
def nanp_prefix_valid(region: str, prefix: str) -> bool:
    """Whether 10-digit numbers starting with these 6 digits are valid in `region`.

    Every branch of phonenumbers' US and CA patterns ends in at least \\d{4}, so for a
    10-digit number validity depends only on the area code and exchange: one check per
    prefix instead of one per row (tests/crm/services/imports/test_rows.py pins this).
    """
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(prefix + "0000"))
    return phonenumbers.is_valid_number_for_region(number, region)


def _nanp_fast(value: str, region: str) -> str | None:
    """E.164 for a plain North American number valid in `region`, else None (use the full parser).

    Checking one region's metadata is ~10x faster than phonenumbers' general parse,
    which matters at 100,000 rows.
    """
    if region not in NANP_REGIONS or not NANP_PUNCTUATION.match(value):
        return None
    digits = NON_DIGITS.sub("", value)
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    elif len(digits) != 10 or value.lstrip().startswith("+"):
        return None
    if nanp_prefix_valid(region, digits[:6]):
        return "+1" + digits
    return None


def normalise_phone(raw: str, region: str) -> tuple[str | None, str]:
    """E.164 for `raw`, or (None, reason). Undoes Excel's 1.5551234567E10 and trailing .0."""
    value = raw.strip()
    if not value:
        return None, "is required"
    if SCIENTIFIC.match(value) or TRAILING_ZEROS.match(value):
        try:
            value = str(int(Decimal(value)))
        except InvalidOperation:
            pass
    fast = _nanp_fast(value, region)
    if fast:
        return fast, ""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None, "is not a phone number"
    if not phonenumbers.is_valid_number(number):
        return None, "is not a valid phone number"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


def _state(value: str, country: str) -> tuple[str, str]:
    if country != "US":
        return value[:50], ""
    code = value.strip().upper().replace(".", "")
    if code in US_STATE_CODES:
        return code, ""
    by_name = US_STATES.get(_letters.sub("", value.lower()))
    if by_name:
        return by_name, ""
    return "", "is not a US state"


def _postcode(value: str, country: str) -> tuple[str, str]:
    value = value.strip()
    if country != "US":
        return value[:20], ""
    if TRAILING_ZEROS.match(value):
        value = value.split(".")[0]  # a spreadsheet stored the ZIP as a number: 2134.0
    if value.isdigit() and 3 <= len(value) <= 4:
        value = value.zfill(5)  # Excel dropped the leading zeros of a New England ZIP
    match = US_ZIP.match(value)
    if not match:
        return "", "is not a US ZIP code (12345 or 12345-6789)"
    return f"{match[1]}-{match[2]}" if match[2] else match[1], ""


SIMPLE_URL = re.compile(r"^https?://[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
                        r"\.[a-z]{2,63}(?::\d{1,5})?(?:[/?#][^\s]*)?$", re.IGNORECASE)


def _website(value: str) -> tuple[str, str]:
    url = value.strip()
    if "://" not in url:
        url = "https://" + url.lstrip("/")
    if SIMPLE_URL.match(url):
        return url, ""  # the common case, without Django's slower general validator
    try:
        _url_validator(url)
    except ValidationError:
        return "", "is not a website address"
    return url, ""


def clean_row(*, cells: list[str], row_number: int, columns: ColumnMap, headers: list[str],
              region: str) -> tuple[dict, list[RowError]]:
    """Lead field values for one row, and every problem found in it (empty when valid)."""
    raw = {name: (cells[i].strip() if i < len(cells) and cells[i] else "") for name, i in columns.fields.items()}
    errors: list[RowError] = []

    def fail(field: str, reason: str) -> None:
        header = headers[columns.fields[field]] if field in columns.fields else field
        errors.append(RowError(row_number, header, raw.get(field, "")[:100], reason))

    data: dict = {}
    for name in TEXT_FIELDS:
        if raw.get(name):
            if len(raw[name]) > MAX_LENGTHS[name]:
                fail(name, f"is longer than {MAX_LENGTHS[name]} characters")
            else:
                data[name] = raw[name]
    if raw.get("contact_name") and not (data.get("contact_first_name") or data.get("contact_last_name")):
        first, _, last = raw["contact_name"].partition(" ")
        data["contact_first_name"], data["contact_last_name"] = first[:100], last.strip()[:100]
    if not raw.get("business_name"):
        fail("business_name", "is required")

    country = COUNTRY_NAMES.get(_letters.sub("", raw.get("country", "").lower()), "")
    if raw.get("country") and not country:
        country = raw["country"].upper() if len(raw["country"]) == 2 else ""
        if not country:
            fail("country", "is not a country code")
    country = country or region
    data["country"] = country

    phone, reason = normalise_phone(raw.get("phone", ""), country if country in ("US", "CA") else region)
    if phone:
        data["phone"] = phone
    else:
        fail("phone", reason)
    if raw.get("email"):
        email = raw["email"].lower()
        if len(email) > MAX_LENGTHS["email"]:
            fail("email", f"is longer than {MAX_LENGTHS['email']} characters")
        elif SIMPLE_EMAIL.match(email):
            data["email"] = email  # the common case, without Django's slower general validator
        else:
            try:
                _email_validator(email)
                data["email"] = email
            except ValidationError:
                fail("email", "is not an email address")
    if raw.get("website"):
        url, reason = _website(raw["website"])
        if reason or len(url) > MAX_LENGTHS["website"]:
            fail("website", reason or "is too long")
        else:
            data["website"] = url
    if raw.get("state"):
        state, reason = _state(raw["state"], country)
        data["state"] = state if not reason else ""
        if reason:
            fail("state", reason)
    if raw.get("postcode"):
        postcode, reason = _postcode(raw["postcode"], country)
        if reason:
            fail("postcode", reason)
        else:
            data["postcode"] = postcode
    return data, errors


# The same rules under public names, for leads typed into the admin (crm.services.leads.lead_validate).
normalise_state, normalise_postcode, normalise_website = _state, _postcode, _website
