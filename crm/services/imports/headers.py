"""Match a file's column names to lead fields, forgiving case, spaces and punctuation."""

import re
from dataclasses import dataclass

from crm.services.imports.reading import ImportFileError

REQUIRED_FIELDS = ("business_name", "phone")

# Canonical field -> accepted header spellings, already normalised (lowercase, alphanumeric).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "business_name": (
        "businessname", "business", "company", "companyname", "name", "organization",
        "organisation", "organizationname", "account", "accountname", "businesstitle", "title",
        "dba", "store", "storename", "listingname", "placename",
    ),
    "phone": (
        "phone", "phonenumber", "phoneno", "mobile", "mobilephone", "mobilenumber", "cell",
        "cellphone", "cellnumber", "tel", "telephone", "telephonenumber", "number",
        "contactnumber", "contactphone", "primaryphone", "businessphone", "mainphone", "sms",
    ),
    "contact_first_name": ("firstname", "contactfirstname", "first", "fname", "givenname", "ownerfirstname"),
    "contact_last_name": ("lastname", "contactlastname", "last", "lname", "surname", "familyname", "ownerlastname"),
    "contact_name": ("contactname", "contact", "owner", "ownername", "fullname", "contactperson", "decisionmaker"),
    "email": ("email", "emailaddress", "mail", "contactemail", "businessemail", "emails"),
    "website": ("website", "websiteurl", "url", "web", "site", "homepage", "domain", "webaddress"),
    "address": ("address", "street", "streetaddress", "address1", "addressline1", "fulladdress"),
    "city": ("city", "town", "locality", "municipality"),
    "state": ("state", "province", "region", "st", "stateprovince", "statecode", "county"),
    "postcode": ("zip", "zipcode", "postcode", "postalcode", "postal", "zippostalcode"),
    "country": ("country", "countrycode", "countryname"),
    "category": ("category", "industry", "type", "businesstype", "niche", "vertical", "categories", "maincategory"),
}

_ALIAS_TO_FIELD = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_header(header: str) -> str:
    return _NON_ALNUM.sub("", header.lower().replace("\ufeff", ""))


@dataclass
class ColumnMap:
    """Which file column feeds which field, and which columns were ignored."""

    fields: dict[str, int]
    unknown: list[str]
    found: list[str]

    def header_for(self, headers: list[str]) -> dict[str, str]:
        return {name: headers[i] for name, i in self.fields.items()}


def map_columns(headers: list[str]) -> ColumnMap:
    """Map headers to fields; the first column wins when two map to the same field.

    Raises ImportFileError naming the columns found when a required one is missing.
    """
    fields: dict[str, int] = {}
    unknown: list[str] = []
    for index, header in enumerate(headers):
        name = _ALIAS_TO_FIELD.get(normalise_header(header))
        if name is None or name in fields:
            if header.strip():
                unknown.append(header.strip())
            continue
        fields[name] = index
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        labels = {"business_name": "business name", "phone": "phone"}
        found = ", ".join(f'"{h}"' for h in headers if h.strip()) or "none"
        raise ImportFileError(
            f"Missing required column(s): {', '.join(labels[m] for m in missing)}. "
            f"Columns found: {found}. Rename a column (e.g. \"Business Name\", \"Phone\") and try again."
        )
    return ColumnMap(fields=fields, unknown=unknown, found=[h for h in headers if h.strip()])
