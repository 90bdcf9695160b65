"""One JSON request to a provider, as a good citizen: the shared rate limit before every
attempt, an explicit timeout, retries only when a retry can help (connect errors, timeouts,
429, 5xx) with exponential backoff and full jitter or the provider's own `Retry-After`, a
bounded number of attempts, and no secret in any log line or error message.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from crm.integrations.errors import ProviderResponseError, ProviderUnavailable

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
# A provider asking for a longer pause than this is capped: the worker must not hang for hours.
RETRY_AFTER_CAP_SECONDS = 60.0
# Query parameters and headers that carry credentials (compared lower-case).
SECRET_PARAMS = frozenset({"api_key", "apikey", "key", "token", "access_token"})
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "proxy-authorization"})
ERROR_EXCERPT_CHARS = 200

# Jitter source; a module attribute so tests can seed it.
_random = random.Random()

# Transport errors a retry cannot fix: a bad scheme or a request we built wrongly.
_PERMANENT_TRANSPORT_ERRORS = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_SECRET_IN_URL = re.compile(
    r"(?i)([?&](?:" + "|".join(sorted(SECRET_PARAMS)) + r")=)[^&#\s\"']*"
)


def redact_url(url: str | httpx.URL) -> str:
    """The URL with the values of credential query parameters replaced by ***."""
    return _SECRET_IN_URL.sub(r"\1***", str(url))


def url_for_log(url: str | httpx.URL) -> str:
    """Scheme, host and path only: the query string may hold a key and the lead's details."""
    parsed = httpx.URL(str(url))
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


class _RedactSecretsFilter(logging.Filter):
    """httpx logs every request URL at INFO, api_key included: scrub it before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_url(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_redact_filter = _RedactSecretsFilter()
for _name in ("httpx", "httpcore"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _RedactSecretsFilter) for f in _logger.filters):
        _logger.addFilter(_redact_filter)


def backoff_delay(attempt: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))] after the given attempt."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return _random.uniform(0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent
    or unreadable. Never negative, never above RETRY_AFTER_CAP_SECONDS."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), RETRY_AFTER_CAP_SECONDS)


def _secret_values(params: dict | None, headers: dict | None) -> list[str]:
    values = [str(v) for k, v in (params or {}).items() if k.lower() in SECRET_PARAMS and v]
    for name, value in (headers or {}).items():
        if name.lower() in SECRET_HEADERS and value:
            values.append(str(value))
            if " " in str(value):  # "Bearer <key>": the key alone too
                values.append(str(value).split(" ", 1)[1])
    return [v for v in values if len(v) >= 4]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """The text with every known secret value and credential query parameter masked."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return redact_url(text)


def request_json(
    *,
    provider: str,
    method: str,
    url: str,
    params: dict | None = None,
    json: dict | None = None,
    headers: dict | None = None,
    timeout: float,
    max_attempts: int,
    limiter: Callable[[], None] | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict | list:
    """Send one request (retrying transient failures) and return the decoded JSON body.

    Raises ProviderUnavailable when every attempt failed transiently, ProviderResponseError
    at once for an answer that retrying cannot fix. `limiter()` runs before every attempt.
    """
    attempts = max(1, int(max_attempts))
    secrets = _secret_values(params, headers)
    where = url_for_log(url)
    own_client = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
    try:
        reason = ""
        for attempt in range(1, attempts + 1):
            if limiter is not None:
                limiter()
            retry_after = None
            try:
                response = http.request(
                    method, url, params=params, json=json, headers=headers,
                    timeout=httpx.Timeout(timeout),
                )
            except _PERMANENT_TRANSPORT_ERRORS as exc:
                raise ProviderResponseError(
                    f"{provider}: request failed ({type(exc).__name__})", provider=provider
                ) from None
            except httpx.TransportError as exc:
                reason = type(exc).__name__  # ConnectError, ReadTimeout, ...: no URL, no text
                status_for_log: int | str = reason
            except (httpx.InvalidURL, httpx.DecodingError, httpx.TooManyRedirects) as exc:
                raise ProviderResponseError(
                    f"{provider}: request failed ({type(exc).__name__})", provider=provider
                ) from None
            else:
                status = response.status_code
                if status == 429 or status >= 500:
                    reason = f"HTTP {status}"
                    status_for_log = status
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                elif status >= 300:
                    excerpt = scrub(response.text[:ERROR_EXCERPT_CHARS], secrets).strip()
                    raise ProviderResponseError(
                        f"{provider}: HTTP {status}" + (f": {excerpt}" if excerpt else ""),
                        provider=provider,
                    )
                else:
                    return _decode(response, provider)
            if attempt == attempts:
                break
            wait = retry_after if retry_after is not None else backoff_delay(attempt)
            logger.info(
                "%s: %s from %s (attempt %d of %d); retrying in %.2f s%s",
                provider, status_for_log, where, attempt, attempts, wait,
                " (Retry-After)" if retry_after is not None else "",
            )
            sleep(wait)
        raise ProviderUnavailable(f"{provider}: {reason} after {attempts} attempts", provider=provider)
    finally:
        if own_client:
            http.close()


def _decode(response: httpx.Response, provider: str) -> dict | list:
    try:
        data = response.json()
    except ValueError:
        raise ProviderResponseError(
            f"{provider}: malformed JSON (HTTP {response.status_code})", provider=provider
        ) from None
    if not isinstance(data, dict | list):
        raise ProviderResponseError(
            f"{provider}: unexpected JSON ({type(data).__name__}, not an object)", provider=provider
        )
    return data


def make_client(*, timeout: float, max_connections: int = 20) -> httpx.Client:
    """A pooled client for one backend: connections are reused between calls and threads."""
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": "outreach-crm/1.0"},
    )


class ProviderClient:
    """What every provider backend shares: its key, base URL, limits and one pooled client."""

    name = "provider"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        max_attempts: int,
        limiter: Callable[[], None] | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,  # tests pass a recorder
    ):
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.limiter = limiter
        self._client = client or make_client(timeout=timeout)
        self._sleep = sleep

    def __repr__(self) -> str:  # never the key
        return f"<{type(self).__name__} {self.base_url}>"

    def close(self) -> None:
        self._client.close()
