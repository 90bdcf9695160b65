"""Enrichment backends: SerpAPI's google_maps engine through the real httpx client against a
fake SerpAPI on 127.0.0.1, and the offline gazetteer backend."""

import json
import logging

import pytest

from crm.integrations.enrichment import SerpApiBackend, get_enrichment_backend
from crm.integrations.enrichment_types import WEEKDAYS, PlaceResult, normalise_name
from crm.integrations.offline_enrichment import OfflineEnrichmentBackend, gazetteer_row, infer_category
from crm.integrations.errors import ProviderResponseError, ProviderUnavailable
from fakes.http_server import FakeResponse

API_KEY = "serpapi-test-key-9f8e7d6c5b4a"
SEARCH = "/search.json"


def local_result(title, **overrides):
    """One entry of SerpAPI's google_maps `local_results`, as documented by SerpAPI."""
    result = {
        "position": 1,
        "title": title,
        "place_id": "ChIJ9Sto4ahZwokRXpWiQYiOOOo",
        "gps_coordinates": {"latitude": 42.3601, "longitude": -71.0589},
        "rating": 4.7,
        "reviews": 212,
        "type": "Plumber",
        "types": ["Plumber", "Drainage service"],
        "address": "12 Main St, Boston, MA 02108",
        "open_state": "Open ⋅ Closes 6 PM",
        "hours": "Open ⋅ Closes 6 PM",
        "operating_hours": {"monday": "8 AM–6 PM", "tuesday": "8 AM–6 PM", "sunday": "Closed"},
        "phone": "(617) 555-0100",
        "website": "https://joesplumbing.example.com/",
    }
    result.update(overrides)
    return result


def maps_response(*results, **extra):
    return {"search_metadata": {"status": "Success"}, "local_results": list(results), **extra}


@pytest.fixture
def backend(fake_server, limiter, sleeps):
    return SerpApiBackend(api_key=API_KEY, base_url=fake_server.base_url + "/", timeout=10, max_attempts=3,
                          limiter=limiter, sleep=sleeps)


def lookup(backend, **kwargs):
    kwargs.setdefault("business_name", "Joe's Plumbing LLC")
    kwargs.setdefault("city", "Boston")
    kwargs.setdefault("state", "MA")
    return backend.lookup(**kwargs)


# --- SerpAPI --------------------------------------------------------------------------------


def test_success_picks_the_best_match_and_maps_every_field(fake_server, backend, limiter):
    fake_server.add(SEARCH, FakeResponse(body=maps_response(
        local_result("Boston Drain Masters", position=1, phone="(617) 555-0199"),
        local_result("Joe's Plumbing & Heating", position=2),
        local_result("Joes Plumbing", position=3, rating=4.1, reviews="1,024", website="",
                     gps_coordinates={"latitude": 42.35, "longitude": -71.06}),
    )))

    result = lookup(backend, address="12 Main St")

    assert result == PlaceResult(
        found=True, source="serpapi", name="Joes Plumbing", latitude=42.35, longitude=-71.06,
        category="Plumber", rating=4.1, review_count=1024,
        hours={"monday": "8 AM–6 PM", "tuesday": "8 AM–6 PM", "sunday": "Closed"},
        website="", address="12 Main St, Boston, MA 02108", phone="(617) 555-0100",
    )
    [request] = fake_server.requests
    assert request.method == "GET"
    assert request.query == {"engine": "google_maps", "type": "search", "q": "Joe's Plumbing LLC 12 Main St, Boston, MA",
                             "hl": "en", "api_key": API_KEY}
    assert limiter.calls == 1


def test_query_uses_city_and_state_without_an_address(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body=maps_response()))
    lookup(backend)
    assert fake_server.requests[0].query["q"] == "Joe's Plumbing LLC Boston, MA"


def test_query_does_not_repeat_what_the_address_already_says(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body=maps_response()))
    lookup(backend, address="12 Main St, Boston, MA 02108", postcode="02108")
    assert fake_server.requests[0].query["q"] == "Joe's Plumbing LLC 12 Main St, Boston, MA 02108"


def test_same_phone_wins_over_a_similar_name(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body=maps_response(
        local_result("Joe's Plumbing Co", phone="(617) 555-0111", address="1 Elm St, Quincy, MA"),
        local_result("Joe Plumbing Services", phone="+1 617-555-0142", address="9 Oak St, Quincy, MA"),
    )))

    result = lookup(backend, city="", phone="+16175550142")

    assert result.name == "Joe Plumbing Services"


def test_place_results_single_dict_is_used(fake_server, backend):
    place = local_result("Joe's Plumbing", type=None, types=["Plumber"], operating_hours=None,
                         hours=[{"monday": "7 AM–5 PM"}, {"tuesday": "7 AM–5 PM"}])
    fake_server.add(SEARCH, FakeResponse(body={"search_metadata": {"status": "Success"}, "place_results": place}))

    result = lookup(backend)

    assert result.found and result.name == "Joe's Plumbing"
    assert result.category == "Plumber"
    assert result.hours == {"monday": "7 AM–5 PM", "tuesday": "7 AM–5 PM"}


@pytest.mark.parametrize("body", [
    maps_response(),
    {"search_metadata": {"status": "Success"}},
    {"search_metadata": {"status": "Success"}, "error": "Google hasn't returned any results for this query."},
])
def test_no_results_is_not_found_not_an_error(fake_server, backend, body):
    fake_server.add(SEARCH, FakeResponse(body=body))
    assert lookup(backend) == PlaceResult(found=False, source="serpapi")


def test_a_poor_match_is_not_found(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body=maps_response(
        local_result("Starbucks", address="1500 Broadway, New York, NY", phone="(212) 221-7515"),
        local_result("Boston Public Library", address="700 Boylston St, Boston, MA"),
    )))
    assert lookup(backend).found is False


def test_other_errors_are_response_errors(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body={"error": "Your account has run out of searches."}))
    with pytest.raises(ProviderResponseError, match="serpapi: Your account has run out of searches"):
        lookup(backend)


def test_401_is_a_response_error_without_retry_and_without_the_key(fake_server, backend, sleeps):
    fake_server.route(SEARCH, FakeResponse(401, body={"error": f"Invalid API key {API_KEY}."}))

    with pytest.raises(ProviderResponseError) as caught:
        lookup(backend)

    assert "serpapi: HTTP 401" in str(caught.value)
    assert API_KEY not in str(caught.value)
    assert len(fake_server.requests) == 1 and sleeps.waits == []


def test_429_with_retry_after_waits_then_succeeds(fake_server, backend, sleeps, limiter):
    fake_server.add(SEARCH, FakeResponse(429, headers={"Retry-After": "2"}, body={"error": "Too many requests"}),
                    FakeResponse(body=maps_response(local_result("Joe's Plumbing"))))

    assert lookup(backend).found is True
    assert sleeps.waits == [2.0]
    assert limiter.calls == 2


def test_500_then_success(fake_server, backend, sleeps):
    fake_server.add(SEARCH, FakeResponse(500, body="Internal error"),
                    FakeResponse(body=maps_response(local_result("Joe's Plumbing"))))
    assert lookup(backend).found is True
    assert len(sleeps.waits) == 1


def test_timeout_is_retried_then_unavailable(fake_server, sleeps, limiter):
    slow = SerpApiBackend(api_key=API_KEY, base_url=fake_server.base_url, timeout=0.2, max_attempts=2,
                          limiter=limiter, sleep=sleeps)
    fake_server.route(SEARCH, FakeResponse(body=maps_response(), delay=0.6))

    with pytest.raises(ProviderUnavailable, match="serpapi: ReadTimeout after 2 attempts"):
        lookup(slow)
    assert len(fake_server.requests) == 2 and limiter.calls == 2


def test_5xx_attempts_are_bounded(fake_server, backend, limiter):
    fake_server.route(SEARCH, FakeResponse(503))
    with pytest.raises(ProviderUnavailable, match="serpapi: HTTP 503 after 3 attempts"):
        lookup(backend)
    assert len(fake_server.requests) == 3 and limiter.calls == 3


def test_malformed_json_is_a_response_error_without_retry(fake_server, backend):
    fake_server.route(SEARCH, FakeResponse(body="<html>Bad gateway</html>"))
    with pytest.raises(ProviderResponseError, match="serpapi: malformed JSON"):
        lookup(backend)
    assert len(fake_server.requests) == 1


def test_unexpected_shape_is_a_response_error(fake_server, backend):
    fake_server.route(SEARCH, FakeResponse(body={"local_results": "nope"}))
    with pytest.raises(ProviderResponseError, match="unexpected"):
        lookup(backend)


def test_the_key_never_reaches_the_logs(fake_server, backend, caplog):
    caplog.set_level(logging.DEBUG)
    fake_server.add(SEARCH, FakeResponse(503), FakeResponse(body=maps_response(local_result("Joe's Plumbing"))))

    lookup(backend)

    assert caplog.records
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(backend)


def test_facts_are_the_non_empty_fields_and_json_safe():
    result = PlaceResult(found=True, source="serpapi", name="Joe's", latitude=42.1, longitude=-71.2, rating=4.5,
                         review_count=0, hours={"monday": "8 AM–6 PM"}, category="Plumber")
    facts = result.facts()
    assert facts == {"name": "Joe's", "latitude": 42.1, "longitude": -71.2, "category": "Plumber", "rating": 4.5,
                     "review_count": 0, "hours": {"monday": "8 AM–6 PM"}}
    assert json.loads(json.dumps(facts)) == facts
    assert PlaceResult(found=False, source="offline").facts() == {}


def test_normalise_name_ignores_case_punctuation_and_legal_suffixes():
    assert normalise_name("Joe's Plumbing, LLC") == normalise_name("JOES PLUMBING INC.") == "joes plumbing"
    assert normalise_name("Smith & Sons Co.") == "smith and sons"


# --- offline --------------------------------------------------------------------------------


@pytest.fixture
def offline():
    return OfflineEnrichmentBackend()


def test_offline_finds_boston_by_zip(offline):
    result = offline.lookup(business_name="Allston Dental Care", postcode="02134")

    assert result.found is True and result.source == "offline"
    assert result.latitude == pytest.approx(42.35, abs=0.05)
    assert result.longitude == pytest.approx(-71.13, abs=0.05)
    assert result.time_zone == "America/New_York"
    assert result.category == "dentist"
    assert "MA 02134" in result.address
    assert result.website == "" and result.phone == ""


def test_offline_accepts_zip_plus_four(offline):
    assert offline.lookup(business_name="X", postcode="02134-1001").time_zone == "America/New_York"


@pytest.mark.parametrize("city,state", [("Austin", "TX"), ("austin", "tx"), ("AUSTIN", "Texas")])
def test_offline_finds_austin_by_city_and_state(offline, city, state):
    result = offline.lookup(business_name="Lone Star Roofing", city=city, state=state)

    assert result.found is True
    assert result.time_zone == "America/Chicago"
    assert result.latitude == pytest.approx(30.27, abs=0.3)
    assert result.longitude == pytest.approx(-97.74, abs=0.3)
    assert result.category == "roofer"
    row = gazetteer_row(city="Austin", state="TX")
    assert row["zip_code_type"] == "STANDARD" and row["active"]


def test_offline_falls_back_to_city_when_the_zip_is_unknown(offline):
    result = offline.lookup(business_name="Cafe Uno", postcode="00000", city="Denver", state="CO")
    assert result.found and result.time_zone == "America/Denver"


def test_offline_is_deterministic(offline):
    kwargs = {"business_name": "Bright Smile Dentistry", "city": "Austin", "state": "TX", "address": "1 Congress Ave"}
    first = offline.lookup(**kwargs)
    assert OfflineEnrichmentBackend().lookup(**kwargs) == first
    assert first.facts() == offline.lookup(**kwargs).facts()
    # Pinned: sha256 of the name, not Python's per-process hash().
    other = offline.lookup(**{**kwargs, "business_name": "Bright Smile Dentistry LLC"})
    assert (other.rating, other.review_count) == (first.rating, first.review_count)


def test_offline_rating_and_reviews_stay_in_range(offline):
    results = [offline.lookup(business_name=f"Business {i}", postcode="02134") for i in range(300)]
    assert all(3.8 <= r.rating <= 4.9 for r in results)
    assert all(5 <= r.review_count <= 400 for r in results)
    assert len({r.rating for r in results}) == 12
    assert len({r.review_count for r in results}) > 100


@pytest.mark.parametrize("kwargs", [
    {"business_name": "Nowhere LLC"},
    {"business_name": "Nowhere LLC", "postcode": "99999"},
    {"business_name": "Nowhere LLC", "city": "Atlantis", "state": "ZZ"},
    {"business_name": "Nowhere LLC", "city": "Atlantis", "state": "TX"},
    {"business_name": "Nowhere LLC", "postcode": "ABCDE"},
    {"business_name": "Nowhere LLC", "city": "Springfield"},  # which one? not a guess
])
def test_offline_unknown_places_are_not_found(offline, kwargs):
    assert offline.lookup(**kwargs) == PlaceResult(found=False, source="offline")


def test_offline_city_without_state_when_the_area_code_decides(offline):
    result = offline.lookup(business_name="Shop", city="Springfield", phone="+14135550100")  # 413: Massachusetts
    assert result.found and result.time_zone == "America/New_York"


def test_offline_uses_the_leads_category_when_given(offline):
    result = offline.lookup(business_name="Joe's Plumbing", postcode="02134", category="Water heater installer")
    assert result.category == "Water heater installer"


@pytest.mark.parametrize("name,category", [
    ("Joe's Plumbing & Drain", "plumber"),
    ("Bright Smile Dental", "dentist"),
    ("Shear Magic Hair Studio", "hair salon"),
    ("Classic Cuts Barber Shop", "hair salon"),
    ("Top Notch Roofing LLC", "roofer"),
    ("Morning Brew Coffee", "cafe"),
    ("Main Street Auto Repair", "auto repair"),
    ("Smith & Jones Law Offices", "lawyer"),
    ("Green Lawn Care", "landscaper"),
    ("Sparkle Cleaning Co", "cleaning service"),
    ("Polished Nails", "nail salon"),
    ("The Corner Pub", "bar"),
    ("Happy Paws Pet Clinic", "veterinarian"),
    ("Acme Holdings", "local business"),
])
def test_category_inference(name, category):
    assert infer_category(name) == category


def test_offline_hours_follow_the_category(offline):
    cafe = offline.lookup(business_name="Morning Brew Coffee", postcode="02134")
    plumber = offline.lookup(business_name="Joe's Plumbing", postcode="02134")
    assert set(cafe.hours) == set(WEEKDAYS)
    assert cafe.hours != plumber.hours
    assert plumber.hours["sunday"] == "Closed"


# --- choosing the backend -------------------------------------------------------------------


def test_get_enrichment_backend_is_offline_without_a_key(settings):
    settings.SERPAPI_API_KEY = ""
    assert isinstance(get_enrichment_backend(), OfflineEnrichmentBackend)
    assert get_enrichment_backend().name == "offline"


def test_get_enrichment_backend_is_serpapi_with_a_key(settings, fake_server, limiter):
    settings.SERPAPI_API_KEY = API_KEY
    settings.SERPAPI_BASE_URL = fake_server.base_url
    settings.PROVIDER_TIMEOUT_SECONDS = 3.5
    settings.PROVIDER_MAX_ATTEMPTS = 2
    fake_server.route(SEARCH, FakeResponse(body=maps_response(local_result("Joe's Plumbing"))))

    backend = get_enrichment_backend(limiter=limiter)

    assert isinstance(backend, SerpApiBackend) and backend.name == "serpapi"
    assert (backend.timeout, backend.max_attempts) == (3.5, 2)
    assert lookup(backend).found
    assert fake_server.requests[0].query["api_key"] == API_KEY
    assert limiter.calls == 1
