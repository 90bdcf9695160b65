"""Cheap, read-only calls that tell whether a connection works, for `manage.py doctor` and the
Health page: Twilio's number list, Stripe's webhook endpoints, a GET on any URL, a Redis PING.
No ORM; every call has a timeout and never raises (a failure comes back as words)."""

from dataclasses import dataclass, field

import httpx
import redis
import stripe
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

from crm.integrations.http import redact_url


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    status: int = 0  # the HTTP status, 0 when none came back
    error: str = ""
    items: list[dict] = field(default_factory=list)


def twilio_numbers_probe(*, account_sid: str, auth_token: str, api_base_url: str, timeout: float) -> ProbeResult:
    """The account's incoming phone numbers ({"phone_number", "sms_url", "sms_method"}), which
    also proves the credentials (401 when wrong)."""
    client = TwilioClient(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
    if api_base_url:
        client.api.base_url = api_base_url.rstrip("/")
        client.edge = client.region = None
    try:
        numbers = client.api.v2010.account.incoming_phone_numbers.list(limit=1000)
    except TwilioRestException as exc:
        return ProbeResult(False, exc.status, f"Twilio answered {exc.status}: {exc.msg}")
    except TwilioException as exc:  # a list page that is not a 200 comes back as this, with its response
        status = int(getattr(exc.args[1], "status_code", 0) if len(exc.args) > 1 else 0)
        if status:
            return ProbeResult(False, status, f"Twilio answered {status}")
        return ProbeResult(False, 0, f"Twilio could not be reached: {exc}")
    except OSError as exc:
        return ProbeResult(False, 0, f"Twilio could not be reached: {type(exc).__name__}")
    return ProbeResult(True, 200, items=[{"phone_number": n.phone_number, "sms_url": n.sms_url or "",
                                          "sms_method": n.sms_method or ""} for n in numbers])


def stripe_webhook_endpoints_probe(*, secret_key: str, api_base_url: str, timeout: float) -> ProbeResult:
    """The account's webhook endpoints ({"url", "status", "enabled_events"}), which also proves
    the key (401 when wrong)."""
    client = stripe.StripeClient(secret_key, base_addresses={"api": (api_base_url or stripe.DEFAULT_API_BASE).rstrip("/")},
                                 max_network_retries=0, http_client=stripe.RequestsClient(timeout=timeout))
    try:
        endpoints = client.v1.webhook_endpoints.list({"limit": 100})
    except stripe.StripeError as exc:
        status = int(getattr(exc, "http_status", None) or 0)
        return ProbeResult(False, status, f"Stripe answered {status or 'nothing'}: {exc.user_message or type(exc).__name__}")
    return ProbeResult(True, 200, items=[{"url": e.url, "status": e.status, "enabled_events": list(e.enabled_events)}
                                         for e in endpoints.data])


def http_get_probe(*, url: str, timeout: float, headers: dict | None = None, params: dict | None = None) -> ProbeResult:
    """One GET; ok on a 2xx. The error names the address without its query (it may hold a key)."""
    try:
        response = httpx.get(url, headers=headers or {}, params=params or {}, timeout=timeout)
    except httpx.HTTPError as exc:
        return ProbeResult(False, 0, f"{redact_url(url)} could not be reached: {type(exc).__name__}")
    if response.is_success:
        return ProbeResult(True, response.status_code)
    return ProbeResult(False, response.status_code, f"{redact_url(url)} answered {response.status_code}")


def redis_ping_probe(*, url: str, timeout: float) -> ProbeResult:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
    except redis.RedisError as exc:
        return ProbeResult(False, 0, f"Redis did not answer PING: {type(exc).__name__}")
    return ProbeResult(True)
