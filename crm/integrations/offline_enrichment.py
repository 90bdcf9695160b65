"""The offline enrichment backend: the same shape of result as SerpAPI, from the bundled US ZIP
gazetteer and fixed rules, with no network. Deterministic: the same lead gives the same answer.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

import zipcodes

from crm.integrations.enrichment_types import WEEKDAYS, PlaceResult, normalise_name, phone_digits
from crm.integrations.us_states import US_STATE_NAMES

CATEGORY_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("plumb",), "plumber"),
    (("dental", "dentist", "dentistry", "orthodont"), "dentist"),
    (("nail",), "nail salon"),
    (("salon", "hair", "barber", "beauty"), "hair salon"),
    (("roof",), "roofer"),
    (("cafe", "coffee", "espresso"), "cafe"),
    (("auto", "mechanic", "tire", "collision", "car repair"), "auto repair"),
    (("law", "attorney", "legal"), "lawyer"),
    (("hvac", "heating", "cooling", "air conditioning"), "hvac contractor"),
    (("electric",), "electrician"),
    (("landscap", "lawn", "garden", "tree service"), "landscaper"),
    (("clean", "maid", "janitor"), "cleaning service"),
    (("pizza", "pizzeria"), "pizza restaurant"),
    (("restaurant", "grill", "diner", "bistro", "kitchen", "eatery", "taco", "sushi"), "restaurant"),
    (("bakery", "bake", "donut", "pastry"), "bakery"),
    (("bar", "pub", "tavern", "brew"), "bar"),
    (("gym", "fitness", "crossfit", "yoga", "pilates"), "gym"),
    (("spa", "massage"), "spa"),
    (("vet", "animal", "pet"), "veterinarian"),
    (("chiropract",), "chiropractor"),
    (("realty", "real estate", "realtor", "properties"), "real estate agency"),
    (("insurance",), "insurance agency"),
    (("account", "cpa", "tax", "bookkeep"), "accountant"),
    (("photo",), "photographer"),
    (("construct", "contractor", "builder", "remodel"), "general contractor"),
    (("paint",), "painter"),
    (("pest", "extermin"), "pest control"),
    (("florist", "flower"), "florist"),
    (("clinic", "medical", "doctor", "health"), "medical clinic"),
)


# First matching rule wins; keywords are matched against the normalised business name.
DEFAULT_CATEGORY = "local business"

_FOOD = {"cafe", "bakery"}
_EVENING = {"restaurant", "pizza restaurant", "bar"}
_RETAIL = {"hair salon", "nail salon", "spa", "florist"}


def infer_category(business_name: str) -> str:
    """A category from keywords in the business name; "local business" when none match."""
    name = f" {normalise_name(business_name)} "
    for keywords, category in CATEGORY_RULES:
        for keyword in keywords:
            # Short keywords match whole words only ("bar" not in "barber", "law" not in "lawn").
            if len(keyword) <= 3:
                hit = f" {keyword} " in name or f" {keyword}s " in name
            else:
                hit = keyword in name
            if hit:
                return category
    return DEFAULT_CATEGORY


def hours_for(category: str) -> dict[str, str]:
    """Typical opening hours for a category (a weekday pattern)."""
    if category == "gym":
        week, saturday, sunday = "5 AM–10 PM", "7 AM–8 PM", "8 AM–6 PM"
    elif category in _FOOD:
        week, saturday, sunday = "7 AM–5 PM", "8 AM–4 PM", "8 AM–2 PM"
    elif category in _EVENING:
        week, saturday, sunday = "11 AM–10 PM", "11 AM–11 PM", "12–9 PM"
    elif category in _RETAIL:
        week, saturday, sunday = "9 AM–7 PM", "9 AM–5 PM", "Closed"
    else:
        week, saturday, sunday = "8 AM–5 PM", "9 AM–1 PM", "Closed"
    return {**{day: week for day in WEEKDAYS[:5]}, "saturday": saturday, "sunday": sunday}


US_STATES = {name.lower(): code for name, code in US_STATE_NAMES.items()}


def state_code(state: str) -> str:
    """'Texas', 'tx', 'TX' -> 'TX'; '' when unknown."""
    value = re.sub(r"[^a-z ]", "", (state or "").lower()).strip()
    if len(value) == 2:
        return value.upper()
    return US_STATES.get(re.sub(r"\s+", " ", value), "")


def _city_key(city: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (city or "").lower().replace("saint ", "st ")).strip()


@dataclass
class _Gazetteer:
    by_city_state: dict[tuple[str, str], list[dict]]  # primary city names
    by_alias_state: dict[tuple[str, str], list[dict]]  # acceptable alternative names
    by_city: dict[str, list[dict]]  # primary city names, any state
    by_zip: dict[str, dict]


_gazetteer_lock = threading.Lock()
_gazetteer: _Gazetteer | None = None


def _indexes() -> _Gazetteer:
    """Indexes over the bundled gazetteer, built once per process (zipcodes' own lookups are
    linear scans over 42,000 rows, and its city filter is case-sensitive)."""
    global _gazetteer
    with _gazetteer_lock:
        if _gazetteer is None:
            index = _Gazetteer({}, {}, {}, {})
            for row in zipcodes.list_all():
                index.by_zip[row["zip_code"]] = row
                city = _city_key(row["city"])
                index.by_city_state.setdefault((city, row["state"]), []).append(row)
                index.by_city.setdefault(city, []).append(row)
                for other in row.get("acceptable_cities") or ():
                    index.by_alias_state.setdefault((_city_key(other), row["state"]), []).append(row)
            _gazetteer = index
    return _gazetteer


def _pick(rows: list[dict]) -> dict | None:
    """The first active STANDARD ZIP in ZIP order, else the first active, else the first."""
    ordered = sorted(rows, key=lambda r: r["zip_code"])
    for accept in (lambda r: r["active"] and r["zip_code_type"] == "STANDARD", lambda r: r["active"],
                   lambda r: True):
        for row in ordered:
            if accept(row):
                return row
    return None


def gazetteer_row(*, postcode: str = "", city: str = "", state: str = "", phone: str = "") -> dict | None:
    """The gazetteer row for a ZIP code, else for a city and state (the state may be left out
    when the city, or the phone's area code, points to one state only)."""
    index = _indexes()
    digits = re.sub(r"\D", "", (postcode or "").split("-")[0])
    if len(digits) == 5 and digits in index.by_zip:
        return index.by_zip[digits]
    key = _city_key(city)
    if not key:
        return None
    code = state_code(state)
    if code:
        return _pick(index.by_city_state.get((key, code)) or index.by_alias_state.get((key, code)) or [])
    # No state: only when the answer is unambiguous (a wrong state means a wrong time zone).
    rows = index.by_city.get(key, [])
    area = phone_digits(phone)[:3]
    if area and len({r["state"] for r in rows}) > 1:
        rows = [r for r in rows if area in (r.get("area_codes") or [])] or rows
    return _pick(rows) if len({r["state"] for r in rows}) == 1 else None


def _stable_number(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


class OfflineEnrichmentBackend:
    """Deterministic, no network: the location from the bundled US ZIP gazetteer, the
    category from the lead or its name, and a rating and review count derived from the name
    (sha256, stable across processes). Knows no website and no phone of its own."""

    name = "offline"

    def __init__(self, **_ignored):
        pass

    def close(self) -> None:
        pass

    def lookup(
        self,
        *,
        business_name: str,
        address: str = "",
        city: str = "",
        state: str = "",
        postcode: str = "",
        phone: str = "",
        category: str = "",
    ) -> PlaceResult:
        row = gazetteer_row(postcode=postcode, city=city, state=state, phone=phone)
        if row is None:
            return PlaceResult(found=False, source=self.name)
        category = category.strip() or infer_category(business_name)
        number = _stable_number(normalise_name(business_name) or business_name.strip().lower())
        place_city = city.strip() or row["city"]
        locality = f"{place_city}, {row['state']} {row['zip_code']}"
        return PlaceResult(
            found=True,
            source=self.name,
            name=business_name.strip(),
            latitude=float(row["lat"]),
            longitude=float(row["long"]),
            category=category,
            rating=round(3.8 + (number % 12) / 10, 1),  # 3.8 .. 4.9
            review_count=5 + (number // 12) % 396,  # 5 .. 400
            hours=hours_for(category),
            address=f"{address.strip()}, {locality}" if address.strip() else locality,
            time_zone=row.get("timezone") or "",
        )
