"""Stripe through the stripe SDK (StripeClient), or an offline stand-in when no key is set.

Thin client: no ORM, an explicit timeout, a bounded number of SDK retries (each POST keeps
its idempotency key across retries, so a retried create never makes a second object), and
plain dicts or small dataclasses out, never SDK objects. `get_stripe_backend()` picks Stripe
when STRIPE_SECRET_KEY is set (at STRIPE_API_BASE_URL when that is set: a local fake in
tests and benchmarks), else the offline backend, which makes local checkout sessions only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import stripe
from django.conf import settings

from crm.integrations.errors import ProviderError, ProviderResponseError, ProviderUnavailable
from crm.integrations.http import scrub

PROVIDER = "stripe"
# The SDK retries connection errors, 409 and 5xx with its own backoff (0.5 s .. 5 s); a
# checkout click must not hang behind many of them.
MAX_NETWORK_RETRIES_CAP = 2
EVENTS_PAGE_MAX = 100


@dataclass(frozen=True)
class CheckoutLine:
    """One line of a checkout: a Stripe price id, or an amount in cents with a name."""

    name: str
    amount_cents: int
    price_id: str = ""


@dataclass(frozen=True)
class CheckoutSessionInfo:
    id: str
    url: str  # Stripe's hosted page; "" for a local (offline) session
    status: str  # open / complete / expired
    expires_at: int  # unix seconds
    payment_status: str = "unpaid"
    customer_id: str = ""
    subscription_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


class StripeNotConfigured(ProviderResponseError):
    """A call that needs Stripe while no STRIPE_SECRET_KEY is set."""


def _line_item(line: CheckoutLine, currency: str, *, recurring: bool) -> dict:
    if line.price_id:
        return {"price": line.price_id, "quantity": 1}
    price_data: dict = {"currency": currency.lower(), "unit_amount": int(line.amount_cents),
                        "product_data": {"name": line.name}}
    if recurring:
        price_data["recurring"] = {"interval": "month"}
    return {"price_data": price_data, "quantity": 1}


def checkout_session_params(
    *,
    setup: CheckoutLine,
    monthly: CheckoutLine,
    currency: str,
    metadata: dict[str, str],
    customer_email: str,
    success_url: str,
    cancel_url: str,
    expires_at: int,
    allow_promotion_codes: bool,
) -> dict:
    """The Checkout Session create parameters: subscription mode, the setup fee as a one-time
    line (Stripe adds it to the first invoice) and the monthly plan as a recurring line."""
    params: dict = {
        "mode": "subscription",
        "line_items": [_line_item(setup, currency, recurring=False), _line_item(monthly, currency, recurring=True)],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "expires_at": int(expires_at),
        "metadata": dict(metadata),
        "subscription_data": {"metadata": dict(metadata)},
        "allow_promotion_codes": bool(allow_promotion_codes),
    }
    if metadata.get("lead_id"):
        params["client_reference_id"] = str(metadata["lead_id"])
    if customer_email:
        params["customer_email"] = customer_email
    return params


def _session_info(data: dict) -> CheckoutSessionInfo:
    return CheckoutSessionInfo(
        id=data["id"],
        url=data.get("url") or "",
        status=data.get("status") or "open",
        expires_at=int(data.get("expires_at") or 0),
        payment_status=data.get("payment_status") or "unpaid",
        customer_id=data.get("customer") or "",
        subscription_id=data.get("subscription") or "",
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


class OfflineStripeBackend:
    """The embedded default with no keys: checkout sessions that live on our own site only
    (the local checkout page in development); anything that needs Stripe says so."""

    name = "offline"
    offline = True

    def checkout_session_create(self, *, idempotency_key: str, expires_at: int, metadata: dict[str, str],
                                **params) -> CheckoutSessionInfo:
        # Deterministic: the same request gives the same local session, as with Stripe.
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return CheckoutSessionInfo(id=f"cs_local_{digest}", url="", status="open", expires_at=int(expires_at),
                                   metadata=dict(metadata))

    def _not_configured(self, what: str):
        raise StripeNotConfigured(f"stripe: {what} needs STRIPE_SECRET_KEY (not set)", provider=PROVIDER)

    def checkout_session_retrieve(self, session_id: str) -> CheckoutSessionInfo:
        self._not_configured("reading a checkout session")

    def portal_session_create(self, *, customer_id: str, return_url: str) -> str:
        self._not_configured("the billing portal")

    def events_list(self, *, starting_after: str | None, limit: int = 100) -> list[dict]:
        return []  # nothing happens at Stripe without Stripe

    def subscription_retrieve(self, subscription_id: str) -> dict:
        self._not_configured("reading a subscription")


class StripeBackend:
    """Stripe's API through stripe.StripeClient, with an explicit timeout and bounded retries."""

    name = "stripe"
    offline = False

    def __init__(self, *, secret_key: str, api_base_url: str = "", timeout: float = 10.0, max_attempts: int = 3):
        self._secret_key = secret_key
        retries = max(0, min(int(max_attempts) - 1, MAX_NETWORK_RETRIES_CAP))
        base = (api_base_url or stripe.DEFAULT_API_BASE).rstrip("/")
        self.api_base = base
        self.client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": base},
            max_network_retries=retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def __repr__(self) -> str:  # never the key
        return f"<StripeBackend {self.api_base}>"

    def _error(self, exc: stripe.StripeError, action: str) -> ProviderError:
        status = int(getattr(exc, "http_status", None) or 0)
        detail = scrub(str(getattr(exc, "user_message", None) or exc), [self._secret_key])[:200]
        code = getattr(exc, "code", None) or "-"
        message = f"stripe: {action} failed: HTTP {status or '-'} {code}: {detail}"
        if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or status == 0 or status >= 500:
            return ProviderUnavailable(message, provider=PROVIDER)
        return ProviderResponseError(message, provider=PROVIDER)

    def checkout_session_create(self, *, idempotency_key: str, **params) -> CheckoutSessionInfo:
        """A Checkout Session (see checkout_session_params for the arguments). The same
        idempotency key within 24 hours returns the same session instead of a new one."""
        try:
            session = self.client.v1.checkout.sessions.create(
                checkout_session_params(**params), {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            raise self._error(exc, "checkout session create") from None
        return _session_info(session.to_dict())

    def checkout_session_retrieve(self, session_id: str) -> CheckoutSessionInfo:
        try:
            session = self.client.v1.checkout.sessions.retrieve(session_id)
        except stripe.StripeError as exc:
            raise self._error(exc, "checkout session retrieve") from None
        return _session_info(session.to_dict())

    def portal_session_create(self, *, customer_id: str, return_url: str) -> str:
        """A customer-portal session for this customer; returns its (short-lived) URL."""
        try:
            session = self.client.v1.billing_portal.sessions.create(
                {"customer": customer_id, "return_url": return_url}
            )
        except stripe.StripeError as exc:
            raise self._error(exc, "billing portal session create") from None
        return session.url

    def events_list(self, *, starting_after: str | None, limit: int = 100) -> list[dict]:
        """Events created after the event `starting_after` (or the newest ones when None),
        oldest first, at most `limit`. Stripe lists newest first, so the page just after an
        event is asked for with `ending_before`; call again with the last id until empty."""
        params: dict = {"limit": max(1, min(int(limit), EVENTS_PAGE_MAX))}
        if starting_after:
            params["ending_before"] = starting_after
        try:
            page = self.client.v1.events.list(params)
        except stripe.StripeError as exc:
            raise self._error(exc, "events list") from None
        return [event.to_dict() for event in reversed(page.data)]

    def subscription_retrieve(self, subscription_id: str) -> dict:
        try:
            subscription = self.client.v1.subscriptions.retrieve(subscription_id)
        except stripe.StripeError as exc:
            raise self._error(exc, "subscription retrieve") from None
        return subscription.to_dict()


@lru_cache(maxsize=4)
def _stripe_backend(secret_key: str, api_base_url: str, timeout: float, max_attempts: int) -> StripeBackend:
    return StripeBackend(secret_key=secret_key, api_base_url=api_base_url, timeout=timeout,
                         max_attempts=max_attempts)


def get_stripe_backend() -> OfflineStripeBackend | StripeBackend:
    """Stripe when STRIPE_SECRET_KEY is set, else the offline backend."""
    if settings.STRIPE_SECRET_KEY:
        # Cached so the HTTP connection pool is reused; changed settings make a new one.
        return _stripe_backend(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE_URL,
                               float(settings.PROVIDER_TIMEOUT_SECONDS), int(settings.PROVIDER_MAX_ATTEMPTS))
    return OfflineStripeBackend()
