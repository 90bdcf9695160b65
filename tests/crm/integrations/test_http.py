"""request_json with the real httpx client against a fake provider on 127.0.0.1: what is
retried and what is not, how long it waits, how many attempts, the rate limiter before
every attempt, and no secret in any log record or error message."""

import logging
import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from crm.integrations import http
from crm.integrations.errors import ProviderError, ProviderResponseError, ProviderUnavailable
from crm.integrations.http import backoff_delay, parse_retry_after, redact_url, request_json
from fakes.http_server import FakeResponse

SECRET = "sk-test-SECRET-0123456789"
OK = FakeResponse(body={"ok": True})


def call(fake, sleeps, *, path="/v1/thing", max_attempts=4, timeout=2.0, limiter=None, **kwargs):
    kwargs.setdefault("params", {"q": "plumber boston", "api_key": SECRET})
    return request_json(
        provider="acme", method=kwargs.pop("method", "GET"), url=fake.base_url + path,
        timeout=timeout, max_attempts=max_attempts, limiter=limiter, sleep=sleeps, **kwargs,
    )


def test_success_returns_the_json_and_sends_params_headers_and_body(fake_server, sleeps, limiter):
    fake_server.add("/v1/thing", OK)

    data = call(fake_server, sleeps, method="POST", limiter=limiter, headers={"X-API-KEY": SECRET},
                json={"q": "hello"})

    assert data == {"ok": True}
    [request] = fake_server.requests
    assert request.method == "POST"
    assert request.query == {"q": "plumber boston", "api_key": SECRET}
    assert request.headers["x-api-key"] == SECRET
    assert request.json == {"q": "hello"}
    assert limiter.calls == 1
    assert sleeps.waits == []


def test_a_list_body_is_returned_too(fake_server, sleeps):
    fake_server.add("/v1/thing", FakeResponse(body=[1, 2]))
    assert call(fake_server, sleeps) == [1, 2]


def test_429_with_retry_after_waits_exactly_that_long_then_succeeds(fake_server, sleeps, limiter):
    fake_server.add("/v1/thing", FakeResponse(429, headers={"Retry-After": "2"}, body={"error": "slow down"}), OK)

    assert call(fake_server, sleeps, limiter=limiter) == {"ok": True}

    assert sleeps.waits == [2.0]
    assert len(fake_server.requests) == 2
    assert limiter.calls == 2


def test_retry_after_as_an_http_date_is_honoured(fake_server, sleeps):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    fake_server.add("/v1/thing", FakeResponse(503, headers={"Retry-After": when}), OK)

    assert call(fake_server, sleeps) == {"ok": True}

    [wait] = sleeps.waits
    assert 27 <= wait <= 30


def test_500_then_success_backs_off_once(fake_server, sleeps, limiter):
    fake_server.add("/v1/thing", FakeResponse(500, body="oops"), OK)

    assert call(fake_server, sleeps, limiter=limiter) == {"ok": True}

    [wait] = sleeps.waits
    assert 0 <= wait <= http.BACKOFF_BASE_SECONDS
    assert limiter.calls == 2


def test_attempts_are_bounded_then_provider_unavailable(fake_server, sleeps, limiter):
    fake_server.route("/v1/thing", FakeResponse(503, body={"error": "down"}))

    with pytest.raises(ProviderUnavailable) as caught:
        call(fake_server, sleeps, max_attempts=3, limiter=limiter)

    assert str(caught.value) == "acme: HTTP 503 after 3 attempts"
    assert caught.value.provider == "acme"
    assert len(fake_server.requests) == 3
    assert limiter.calls == 3
    assert len(sleeps.waits) == 2  # no pointless wait after the last attempt


def test_timeout_is_retried_then_provider_unavailable(fake_server, sleeps, limiter):
    fake_server.route("/v1/thing", FakeResponse(body={"ok": True}, delay=0.6))

    with pytest.raises(ProviderUnavailable, match=r"acme: ReadTimeout after 2 attempts"):
        call(fake_server, sleeps, max_attempts=2, timeout=0.2, limiter=limiter)

    assert len(fake_server.requests) == 2
    assert limiter.calls == 2
    assert len(sleeps.waits) == 1


def test_timeout_then_success(fake_server, sleeps):
    fake_server.add("/v1/thing", FakeResponse(body={"late": True}, delay=0.6), OK)
    assert call(fake_server, sleeps, timeout=0.2) == {"ok": True}
    assert len(sleeps.waits) == 1


def test_connection_refused_is_retried_then_provider_unavailable(sleeps, limiter):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderUnavailable, match=r"acme: ConnectError after 3 attempts"):
        request_json(provider="acme", method="GET", url=f"http://127.0.0.1:{port}/x", timeout=1,
                     max_attempts=3, limiter=limiter, sleep=sleeps)
    assert limiter.calls == 3
    assert len(sleeps.waits) == 2


def test_malformed_json_is_a_response_error_without_retry(fake_server, sleeps, limiter):
    fake_server.route("/v1/thing", FakeResponse(body="{not json", headers={"Content-Type": "application/json"}))

    with pytest.raises(ProviderResponseError, match="acme: malformed JSON"):
        call(fake_server, sleeps, limiter=limiter)

    assert len(fake_server.requests) == 1
    assert limiter.calls == 1
    assert sleeps.waits == []


def test_json_that_is_not_an_object_or_list_is_a_response_error(fake_server, sleeps):
    fake_server.route("/v1/thing", FakeResponse(body='"just a string"'))
    with pytest.raises(ProviderResponseError, match="unexpected JSON"):
        call(fake_server, sleeps)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_other_than_429_is_a_response_error_without_retry(fake_server, sleeps, limiter, status):
    fake_server.route("/v1/thing", FakeResponse(status, body={"error": "Invalid API key."}))

    with pytest.raises(ProviderResponseError, match=rf"acme: HTTP {status}: .*Invalid API key") as caught:
        call(fake_server, sleeps, limiter=limiter)

    assert isinstance(caught.value, ProviderError)
    assert len(fake_server.requests) == 1
    assert limiter.calls == 1
    assert sleeps.waits == []


def test_the_limiter_runs_before_every_attempt_reaches_the_server(fake_server, sleeps):
    seen = []
    fake_server.add("/v1/thing", FakeResponse(500), FakeResponse(502), OK)

    call(fake_server, sleeps, limiter=lambda: seen.append(len(fake_server.requests)))

    assert seen == [0, 1, 2]  # each slot taken before that attempt was sent


def test_secrets_never_reach_logs_or_error_messages(fake_server, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    echo = {"error": f"bad key {SECRET}", "token": SECRET}  # a provider echoing the key back
    fake_server.add("/v1/thing", FakeResponse(429, headers={"Retry-After": "1"}), FakeResponse(500), OK,
                    FakeResponse(401, body=echo))
    headers = {"Authorization": f"Bearer {SECRET}"}

    call(fake_server, sleeps, headers=headers)
    with pytest.raises(ProviderResponseError) as caught:
        call(fake_server, sleeps, headers=headers)

    assert SECRET not in str(caught.value)
    assert "***" in str(caught.value)
    assert caplog.records, "expected retry logs (and httpx's own request logs)"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in caplog.text
    retries = [r for r in caplog.records if r.name == "crm.integrations.http"]
    assert [r.levelno for r in retries] == [logging.INFO, logging.INFO]
    assert "acme: 429 from http://127.0.0.1" in retries[0].getMessage()
    assert "retrying in 1.00 s" in retries[0].getMessage()
    assert "?" not in retries[0].getMessage()  # no query string at all
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    # Settings quiet httpx to WARNING; whatever it still logs carries no key.
    assert all("api_key=***" in line for line in httpx_lines)


def test_secrets_in_unavailable_errors_are_absent_too(fake_server, sleeps):
    fake_server.route("/v1/thing", FakeResponse(503, body={"error": SECRET}))
    with pytest.raises(ProviderUnavailable) as caught:
        call(fake_server, sleeps, max_attempts=2)
    assert SECRET not in str(caught.value)


# --- backoff and Retry-After ----------------------------------------------------------------


def test_backoff_has_full_jitter_and_grows_to_the_cap(monkeypatch):
    monkeypatch.setattr(http, "_random", random.Random(1234))
    samples = {attempt: [backoff_delay(attempt) for _ in range(300)] for attempt in range(1, 10)}

    for attempt, delays in samples.items():
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        assert all(0 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 250  # jitter: not one fixed value
        assert max(delays) > 0.9 * ceiling  # the whole range is used ("full" jitter)
    means = [sum(samples[a]) / len(samples[a]) for a in range(1, 8)]
    assert means == sorted(means)  # grows with each attempt
    assert max(samples[9]) <= 30.0


def test_request_json_uses_the_jittered_backoff(fake_server, sleeps, monkeypatch):
    monkeypatch.setattr(http, "_random", random.Random(7))
    fake_server.add("/v1/thing", FakeResponse(500), FakeResponse(500), FakeResponse(500), OK)

    call(fake_server, sleeps)

    expected = random.Random(7)
    assert sleeps.waits == [expected.uniform(0, 0.5), expected.uniform(0, 1.0), expected.uniform(0, 2.0)]


def test_parse_retry_after():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2", now=now) == 2.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("3600", now=now) == http.RETRY_AFTER_CAP_SECONDS
    assert parse_retry_after("-5", now=now) == 0.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:10 GMT", now=now) == 10.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None


def test_retry_after_is_capped(fake_server, sleeps):
    fake_server.add("/v1/thing", FakeResponse(429, headers={"Retry-After": "86400"}), OK)
    call(fake_server, sleeps)
    assert sleeps.waits == [http.RETRY_AFTER_CAP_SECONDS]


def test_redact_url():
    url = "https://serpapi.com/search.json?engine=google_maps&api_key=abc123&q=x&token=t0k&key=k"
    assert redact_url(url) == "https://serpapi.com/search.json?engine=google_maps&api_key=***&q=x&token=***&key=***"
    assert redact_url(httpx.URL("http://h/p?API_KEY=zz")) == "http://h/p?API_KEY=***"
