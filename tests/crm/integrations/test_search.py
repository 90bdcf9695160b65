"""Serper web search context through the real httpx client against a fake Serper on 127.0.0.1."""

import logging

import pytest

from crm.integrations.errors import ProviderResponseError, ProviderUnavailable
from crm.integrations.search import SerperBackend, get_search_backend
from fakes.http_server import FakeResponse

API_KEY = "serper-test-key-abcdef123456"
SEARCH = "/search"


def organic(*snippets):
    return {
        "searchParameters": {"q": "x", "type": "search", "engine": "google"},
        "organic": [
            {"title": f"Result {i}", "link": f"https://example.com/{i}", "position": i + 1,
             **({"snippet": s} if s is not None else {})}
            for i, s in enumerate(snippets)
        ],
    }


@pytest.fixture
def backend(fake_server, limiter, sleeps):
    return SerperBackend(api_key=API_KEY, base_url=fake_server.base_url, timeout=0.5, max_attempts=3,
                         limiter=limiter, sleep=sleeps)


def test_success_posts_the_query_with_the_key_header_and_returns_snippets(fake_server, backend, limiter):
    fake_server.add(SEARCH, FakeResponse(body=organic("Family-owned since 1987.", None, "  Open\n 24/7   ",
                                                      "Licensed and insured.", "Fourth")))

    snippets = backend.snippets(query="Joe's Plumbing Boston MA")

    assert snippets == ["Family-owned since 1987.", "Open 24/7", "Licensed and insured."]
    [request] = fake_server.requests
    assert request.method == "POST"
    assert request.headers["X-API-KEY"] == API_KEY
    assert request.json == {"q": "Joe's Plumbing Boston MA", "num": 5}
    assert limiter.calls == 1


def test_limit_is_respected(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body=organic("a", "b", "c")))
    assert backend.snippets(query="q", limit=1) == ["a"]


def test_long_snippets_are_cut(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body=organic("x" * 5000)))
    assert len(backend.snippets(query="q")[0]) == 400


def test_no_results_is_an_empty_list(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body={"searchParameters": {"q": "q"}}))
    assert backend.snippets(query="q") == []


def test_429_with_retry_after_then_success(fake_server, backend, sleeps, limiter):
    fake_server.add(SEARCH, FakeResponse(429, headers={"Retry-After": "2"}), FakeResponse(body=organic("ok")))
    assert backend.snippets(query="q") == ["ok"]
    assert sleeps.waits == [2.0]
    assert limiter.calls == 2


def test_500_then_success(fake_server, backend, sleeps):
    fake_server.add(SEARCH, FakeResponse(500), FakeResponse(body=organic("ok")))
    assert backend.snippets(query="q") == ["ok"]
    assert len(sleeps.waits) == 1


def test_timeout_then_unavailable(fake_server, sleeps):
    slow = SerperBackend(api_key=API_KEY, base_url=fake_server.base_url, timeout=0.2, max_attempts=2, sleep=sleeps)
    fake_server.route(SEARCH, FakeResponse(body=organic("late"), delay=0.6))
    with pytest.raises(ProviderUnavailable, match="serper: ReadTimeout after 2 attempts"):
        slow.snippets(query="q")
    assert len(fake_server.requests) == 2


def test_403_is_a_response_error_without_retry_or_key(fake_server, backend, caplog):
    caplog.set_level(logging.DEBUG)
    fake_server.route(SEARCH, FakeResponse(403, body={"message": f"Unauthorized: {API_KEY}", "statusCode": 403}))

    with pytest.raises(ProviderResponseError, match="serper: HTTP 403") as caught:
        backend.snippets(query="q")

    assert len(fake_server.requests) == 1
    assert API_KEY not in str(caught.value)
    assert API_KEY not in caplog.text


def test_malformed_json_and_odd_shapes_are_response_errors(fake_server, backend):
    fake_server.add(SEARCH, FakeResponse(body="not json"), FakeResponse(body={"organic": "nope"}),
                    FakeResponse(body=[1, 2]))
    for _ in range(3):
        with pytest.raises(ProviderResponseError):
            backend.snippets(query="q")
    assert len(fake_server.requests) == 3  # none retried


def test_get_search_backend(settings, limiter):
    settings.SERPER_API_KEY = ""
    assert get_search_backend(limiter=limiter) is None

    settings.SERPER_API_KEY = API_KEY
    settings.SERPER_BASE_URL = "http://127.0.0.1:9/"
    backend = get_search_backend(limiter=limiter)
    assert isinstance(backend, SerperBackend) and backend.name == "serper"
    assert backend.base_url == "http://127.0.0.1:9"
    assert backend.limiter is limiter
    assert API_KEY not in repr(backend)
