"""Business lookups: SerpAPI's Google Maps search, or an offline lookup from bundled data.

Thin clients: no ORM, explicit timeouts, bounded retries (crm.integrations.http).
`get_enrichment_backend()` picks SerpAPI when SERPAPI_API_KEY is set, else the offline backend,
which answers the same shape of result from the bundled US ZIP gazetteer and fixed rules.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import zipcodes
from django.conf import settings

from crm.integrations.errors import ProviderResponseError
from crm.integrations.http import ProviderClient, request_json, scrub
from crm.integrations.us_states import US_STATE_NAMES

# A candidate scoring below this is not the lead's business: "not found" beats a wrong match.
MATCH_THRESHOLD = 0.6
PHONE_MATCH_BONUS = 0.35
CITY_MATCH_BONUS = 0.1
# SerpAPI's answer when Google has nothing for the query: "not found", not a failure.
NO_RESULTS_MARKER = "hasn't returned any results"

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass
class PlaceResult:
    found: bool
    source: str  # "serpapi" or "offline"
    name: str = ""
    latitude: float | None = None
    longitude: float | None = None
    category: str = ""
    rating: float | None = None
    review_count: int | None = None
    hours: dict[str, str] = field(default_factory=dict)  # {"monday": "8 AM–6 PM", ...}
    website: str = ""
    address: str = ""
    phone: str = ""
    time_zone: str = ""  # only when the source knows it (the offline gazetteer does)

    def facts(self) -> dict:
        """The non-empty facts (not found/source), JSON-safe, for Lead.enrichment_data."""
        out = {}
        for f in fields(self):
            if f.name in ("found", "source"):
                continue
            value = getattr(self, f.name)
            if value is None or value == "" or value == {}:
                continue
            out[f.name] = dict(value) if isinstance(value, dict) else value
        return out


# --- matching -----------------------------------------------------------------------------

_LEGAL_SUFFIXES = frozenset(
    {"llc", "inc", "incorporated", "co", "corp", "corporation", "company", "ltd", "limited",
     "pllc", "pc", "lp", "llp", "the"}
)


def normalise_name(name: str) -> str:
    """Lower case, '&' as 'and', no punctuation, no legal suffixes (LLC, Inc, ...)."""
    text = name.lower().replace("&", " and ").replace("'", "")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(w for w in words if w not in _LEGAL_SUFFIXES)


def phone_digits(phone: str) -> str:
    """The last 10 digits (US national number), so +1 (617) 555-0100 equals 617.555.0100."""
    return re.sub(r"\D", "", phone or "")[-10:]


def match_score(candidate: dict, *, business_name: str, city: str = "", phone: str = "") -> float:
    """Name similarity (0..1) plus a bonus for the same phone number or the same city."""
    wanted, got = normalise_name(business_name), normalise_name(str(candidate.get("title") or ""))
    if not wanted or not got:
        return 0.0
    score = difflib.SequenceMatcher(None, wanted, got).ratio()
    ours, theirs = phone_digits(phone), phone_digits(str(candidate.get("phone") or ""))
    if len(ours) == 10 and ours == theirs:
        score += PHONE_MATCH_BONUS
    address = str(candidate.get("address") or "").lower()
    if city and re.search(rf"\b{re.escape(city.strip().lower())}\b", address):
        score += CITY_MATCH_BONUS
    return score


def _hours(raw: dict) -> dict[str, str]:
    """operating_hours {"monday": "8 AM–6 PM"}; or `hours` as that dict or as a list of
    one-day dicts (place results). A free-text `hours` ("Open ⋅ Closes 6 PM") says nothing."""
    for value in (raw.get("operating_hours"), raw.get("hours")):
        if isinstance(value, dict):
            return {str(k).lower(): str(v) for k, v in value.items() if v}
        if isinstance(value, list):
            merged = {}
            for item in value:
                if isinstance(item, dict):
                    merged.update({str(k).lower(): str(v) for k, v in item.items() if v})
            if merged:
                return merged
    return {}


def _as_float(value) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _as_int(value) -> int | None:
    if isinstance(value, str):
        value = value.replace(",", "").strip()
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def place_from_serpapi(raw: dict) -> PlaceResult:
    """Map one Google Maps result (local_results[i] or place_results) to a PlaceResult."""
    gps = raw.get("gps_coordinates") if isinstance(raw.get("gps_coordinates"), dict) else {}
    types = raw.get("types") if isinstance(raw.get("types"), list) else []
    return PlaceResult(
        found=True,
        source="serpapi",
        name=str(raw.get("title") or ""),
        latitude=_as_float(gps.get("latitude")),
        longitude=_as_float(gps.get("longitude")),
        category=str(raw.get("type") or (types[0] if types else "") or ""),
        rating=_as_float(raw.get("rating")),
        review_count=_as_int(raw.get("reviews")),
        hours=_hours(raw),
        website=str(raw.get("website") or ""),
        address=str(raw.get("address") or ""),
        phone=str(raw.get("phone") or ""),
    )


def _search_location(address: str, city: str, state: str, postcode: str) -> str:
    """The address, completed with the city, state and ZIP it does not already mention."""
    parts = [address.strip()] if address.strip() else []
    lowered = address.lower()
    for extra in (city, state, postcode):
        extra = extra.strip()
        if extra and not re.search(rf"\b{re.escape(extra.lower())}\b", lowered):
            parts.append(extra)
    return ", ".join(parts)


class SerpApiBackend(ProviderClient):
    """SerpAPI's google_maps engine: GET /search.json, the best matching place or not found."""

    name = "serpapi"


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
        """The best Google Maps match for the business, or PlaceResult(found=False)."""
        location = _search_location(address, city, state, postcode)
        query = f"{business_name.strip()} {location}".strip()
        data = request_json(
            provider=self.name,
            method="GET",
            url=f"{self.base_url}/search.json",
            params={"engine": "google_maps", "type": "search", "q": query, "hl": "en",
                    "api_key": self._api_key},
            timeout=self.timeout,
            max_attempts=self.max_attempts,
            limiter=self.limiter,
            client=self._client,
            sleep=self._sleep,
        )
        if not isinstance(data, dict):
            raise ProviderResponseError("serpapi: unexpected JSON (a list, not an object)", provider=self.name)
        error = data.get("error")
        if error:
            if NO_RESULTS_MARKER in str(error):
                return PlaceResult(found=False, source=self.name)
            raise ProviderResponseError(f"serpapi: {scrub(str(error)[:200], [self._api_key])}", provider=self.name)
        candidates = self._candidates(data)
        best, best_score = None, 0.0
        for candidate in candidates:
            score = match_score(candidate, business_name=business_name, city=city, phone=phone)
            if score > best_score:  # ties keep Google's order
                best, best_score = candidate, score
        if best is None or best_score < MATCH_THRESHOLD:
            return PlaceResult(found=False, source=self.name)
        return place_from_serpapi(best)

    def _candidates(self, data: dict) -> list[dict]:
        local = data.get("local_results")
        if isinstance(local, dict):  # an older shape: {"places": [...]}
            local = local.get("places")
        if local is not None and not isinstance(local, list):
            raise ProviderResponseError("serpapi: unexpected local_results shape", provider=self.name)
        candidates = [item for item in (local or []) if isinstance(item, dict)]
        place = data.get("place_results")
        if isinstance(place, dict):
            candidates.insert(0, place)
        return candidates


# --- offline ----------------------------------------------------------------------------

# First matching rule wins; keywords are matched against the normalised business name.
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


def get_enrichment_backend(*, limiter: Callable[[], None] | None = None) -> SerpApiBackend | OfflineEnrichmentBackend:
    """SerpAPI when SERPAPI_API_KEY is set, else the offline backend."""
    if settings.SERPAPI_API_KEY:
        return SerpApiBackend(
            api_key=settings.SERPAPI_API_KEY,
            base_url=settings.SERPAPI_BASE_URL,
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
            max_attempts=settings.PROVIDER_MAX_ATTEMPTS,
            limiter=limiter,
        )
    return OfflineEnrichmentBackend()
