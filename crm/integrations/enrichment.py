"""Business lookups: SerpAPI's Google Maps search, or an offline lookup from bundled data.

Thin clients: no ORM, explicit timeouts, bounded retries (crm.integrations.http).
`get_enrichment_backend()` picks SerpAPI when SERPAPI_API_KEY is set, else the offline backend,
which answers the same shape of result from the bundled US ZIP gazetteer and fixed rules.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

from django.conf import settings

from crm.integrations.errors import ProviderResponseError
from crm.integrations.enrichment_types import PlaceResult, normalise_name, phone_digits
from crm.integrations.http import ProviderClient, request_json, scrub
from crm.integrations.offline_enrichment import OfflineEnrichmentBackend

# A candidate scoring below this is not the lead's business: "not found" beats a wrong match.
MATCH_THRESHOLD = 0.6
PHONE_MATCH_BONUS = 0.35
CITY_MATCH_BONUS = 0.1
# SerpAPI's answer when Google has nothing for the query: "not found", not a failure.
NO_RESULTS_MARKER = "hasn't returned any results"


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
