"""The Stripe client: the real stripe SDK against the fake Stripe API on 127.0.0.1 (what is
posted, idempotency keys, retries, expiry, errors without secrets), and the offline backend."""

import json
from datetime import UTC, datetime, timedelta

import pytest
import stripe
import time_machine

from crm.integrations import stripe_api
from crm.integrations.errors import ProviderResponseError, ProviderUnavailable
from crm.integrations.stripe_api import (
    CheckoutLine,
    OfflineStripeBackend,
    StripeBackend,
    StripeNotConfigured,
    get_stripe_backend,
)
from fakes.http_server import FakeResponse, FakeServer
from fakes.stripe_server import FakeStripeServer, decode_form

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
SECRET_KEY = "sk_test_secret_0123456789abcdef"
WEBHOOK_SECRET = "whsec_test_0123456789"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def fresh_backend_cache():
    stripe_api._stripe_backend.cache_clear()
    yield
    stripe_api._stripe_backend.cache_clear()


@pytest.fixture
def fake():
    with FakeStripeServer(api_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture
def backend(fake):
    return StripeBackend(secret_key=SECRET_KEY, api_base_url=fake.base_url, timeout=3, max_attempts=2)


def _params(**overrides) -> dict:
    params = {
        "setup": CheckoutLine("Website setup", 49_900),
        "monthly": CheckoutLine("Hosting", 9_900),
        "currency": "USD",
        "metadata": {"lead_id": "42", "setup_fee_cents": "49900", "monthly_plan_cents": "9900"},
        "customer_email": "ana@example.com",
        "success_url": "https://crm.example.com/p/tok/claim/success/?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://crm.example.com/p/tok/claim/cancel/",
        "expires_at": int((NOW + timedelta(hours=23)).timestamp()),
        "allow_promotion_codes": True,
    }
    return {**params, **overrides}


def test_create_posts_a_subscription_checkout_with_a_one_time_and_a_monthly_line(fake, backend):
    info = backend.checkout_session_create(idempotency_key="claim-abc", **_params())

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    assert request.headers["idempotency-key"] == "claim-abc"
    assert request.headers["authorization"] == f"Bearer {SECRET_KEY}"
    sent = request.params
    assert sent["mode"] == "subscription"
    assert sent["line_items"] == [
        {"price_data": {"currency": "usd", "unit_amount": "49900", "product_data": {"name": "Website setup"}},
         "quantity": "1"},
        {"price_data": {"currency": "usd", "unit_amount": "9900", "product_data": {"name": "Hosting"},
                        "recurring": {"interval": "month"}}, "quantity": "1"},
    ]
    assert sent["metadata"]["lead_id"] == "42" and sent["client_reference_id"] == "42"
    assert sent["subscription_data"]["metadata"]["lead_id"] == "42"
    assert sent["allow_promotion_codes"] == "true"
    assert sent["success_url"].endswith("?session_id={CHECKOUT_SESSION_ID}")
    assert sent["expires_at"] == str(int((NOW + timedelta(hours=23)).timestamp()))
    assert sent["customer_email"] == "ana@example.com"
    assert info.id.startswith("cs_test_") and info.status == "open"
    assert info.url == f"{fake.base_url}/pay/{info.id}"
    assert info.expires_at == int((NOW + timedelta(hours=23)).timestamp())
    assert info.metadata["lead_id"] == "42"


def test_price_ids_are_sent_instead_of_amounts_and_promotion_codes_can_be_off(fake, backend):
    fake.prices.update({"price_setup": 25_000, "price_month": 5_000})
    backend.checkout_session_create(idempotency_key="k", **_params(
        setup=CheckoutLine("Website setup", 0, "price_setup"), monthly=CheckoutLine("Hosting", 0, "price_month"),
        allow_promotion_codes=False, customer_email=""))

    sent = fake.requests[0].params
    assert sent["line_items"] == [{"price": "price_setup", "quantity": "1"}, {"price": "price_month", "quantity": "1"}]
    assert sent["allow_promotion_codes"] == "false"
    assert "customer_email" not in sent


def test_the_same_idempotency_key_returns_the_same_session(fake, backend):
    first = backend.checkout_session_create(idempotency_key="claim-same", **_params())
    again = backend.checkout_session_create(idempotency_key="claim-same", **_params())
    other = backend.checkout_session_create(idempotency_key="claim-other", **_params())

    assert again.id == first.id and other.id != first.id
    assert len(fake.sessions) == 2


def test_the_same_key_with_other_parameters_is_refused(backend):
    backend.checkout_session_create(idempotency_key="claim-same", **_params())
    with pytest.raises(ProviderResponseError, match="same parameters"):
        backend.checkout_session_create(idempotency_key="claim-same", **_params(allow_promotion_codes=False))


def test_a_server_error_is_retried_with_the_same_key_and_makes_one_session(fake, backend):
    fake.fail_next(500)

    info = backend.checkout_session_create(idempotency_key="claim-retry", **_params())

    posts = [r for r in fake.requests if r.method == "POST"]
    assert len(posts) == 2
    assert {r.headers["idempotency-key"] for r in posts} == {"claim-retry"}
    assert list(fake.sessions) == [info.id]


def test_retries_are_bounded_and_end_in_provider_unavailable_without_the_key(fake, backend):
    fake.fail_next(503, 503, 503)

    with pytest.raises(ProviderUnavailable) as caught:
        backend.checkout_session_create(idempotency_key="claim-down", **_params())

    assert len(fake.requests) == 2  # max_attempts=2: one try and one retry
    assert SECRET_KEY not in str(caught.value)
    assert fake.sessions == {}


def test_a_wrong_key_is_a_response_error_that_does_not_show_the_key(fake):
    backend = StripeBackend(secret_key="sk_test_wrong_key_987654321", api_base_url=fake.base_url, timeout=3)
    with pytest.raises(ProviderResponseError) as caught:
        backend.checkout_session_retrieve("cs_test_x")
    assert "HTTP 401" in str(caught.value)
    assert "sk_test_wrong_key_987654321" not in str(caught.value)


def test_expires_at_must_be_within_stripe_bounds(backend):
    too_late = int((NOW + timedelta(hours=25)).timestamp())
    too_soon = int((NOW + timedelta(minutes=10)).timestamp())
    for expires_at in (too_late, too_soon):
        with pytest.raises(ProviderResponseError, match="expires_at"):
            backend.checkout_session_create(idempotency_key=f"k{expires_at}", **_params(expires_at=expires_at))


def test_a_session_reads_expired_after_its_expiry(backend):
    info = backend.checkout_session_create(idempotency_key="claim-exp", **_params())
    assert backend.checkout_session_retrieve(info.id).status == "open"

    with time_machine.travel(NOW + timedelta(hours=23, seconds=1), tick=False):
        assert backend.checkout_session_retrieve(info.id).status == "expired"


def test_an_unknown_session_is_a_response_error(backend):
    with pytest.raises(ProviderResponseError, match="404"):
        backend.checkout_session_retrieve("cs_test_nope")


def test_paying_posts_signed_events_and_the_events_api_lists_them_oldest_first():
    with FakeServer(default=FakeResponse(200, body={"received": True})) as app, \
            FakeStripeServer(api_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET,
                             webhook_url=f"{app.base_url}/webhooks/stripe/") as fake:
        backend = StripeBackend(secret_key=SECRET_KEY, api_base_url=fake.base_url, timeout=3)
        info = backend.checkout_session_create(idempotency_key="claim-pay", **_params())
        fake.session_complete(info.id)

        posted = app.requests_to("/webhooks/stripe/")
        events = [stripe.Webhook.construct_event(r.body, r.headers["stripe-signature"], WEBHOOK_SECRET)
                  for r in posted]
        assert [e["type"] for e in events] == ["checkout.session.completed", "invoice.paid"]
        session, invoice = events[0]["data"]["object"], events[1]["data"]["object"]
        assert session["id"] == info.id and session["payment_status"] == "paid"
        assert session["metadata"]["lead_id"] == "42" and session["customer"].startswith("cus_")
        assert invoice["amount_paid"] == 49_900 + 9_900 and invoice["customer"] == session["customer"]
        assert [line["parent"]["type"] for line in invoice["lines"]["data"]] == [
            "invoice_item_details", "subscription_item_details"]
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(posted[0].body, posted[0].headers["stripe-signature"], "whsec_other")

        listed = backend.events_list(starting_after=None)
        assert [e["id"] for e in listed] == [e["id"] for e in events]
        assert backend.events_list(starting_after=listed[0]["id"]) == [listed[1]]
        assert backend.events_list(starting_after=listed[1]["id"]) == []
        retrieved = backend.checkout_session_retrieve(info.id)
        assert (retrieved.status, retrieved.customer_id) == ("complete", session["customer"])

        subscription = backend.subscription_retrieve(session["subscription"])
        assert isinstance(subscription, dict) and subscription["status"] == "active"
        assert subscription["items"]["data"][0]["price"]["unit_amount"] == 9_900
        assert subscription["metadata"]["lead_id"] == "42"


def test_events_list_pages_forward_from_a_cursor(fake, backend):
    for n in range(3):
        fake.session_complete(backend.checkout_session_create(idempotency_key=f"k{n}", **_params()).id)
    ids = [e["id"] for e in fake.events]  # six events, oldest first

    assert [e["id"] for e in backend.events_list(starting_after=ids[0], limit=2)] == ids[1:3]
    assert [e["id"] for e in backend.events_list(starting_after=ids[2], limit=100)] == ids[3:]
    assert fake.requests[-1].query == {"limit": "100", "ending_before": ids[2]}


def test_portal_session_create_returns_its_url(fake, backend):
    url = backend.portal_session_create(customer_id="cus_test_123", return_url="https://crm.example.com/back/")
    assert url.startswith(f"{fake.base_url}/portal/bps_")
    assert fake.requests[-1].params == {"customer": "cus_test_123", "return_url": "https://crm.example.com/back/"}
    with pytest.raises(ProviderResponseError):
        backend.portal_session_create(customer_id="nobody", return_url="https://crm.example.com/back/")


def test_offline_backend_makes_the_same_local_session_for_the_same_key_and_nothing_else():
    offline = OfflineStripeBackend()
    first = offline.checkout_session_create(idempotency_key="claim-1", expires_at=123, metadata={"lead_id": "1"})
    again = offline.checkout_session_create(idempotency_key="claim-1", expires_at=123, metadata={"lead_id": "1"})
    other = offline.checkout_session_create(idempotency_key="claim-2", expires_at=123, metadata={"lead_id": "1"})
    assert first == again and first.id.startswith("cs_local_") and other.id != first.id
    assert first.url == ""
    assert offline.events_list(starting_after=None) == []
    for call in (lambda: offline.checkout_session_retrieve(first.id), lambda: offline.subscription_retrieve("sub_1"),
                 lambda: offline.portal_session_create(customer_id="cus_1", return_url="https://x.example/")):
        with pytest.raises(StripeNotConfigured, match="STRIPE_SECRET_KEY"):
            call()


def test_get_stripe_backend_picks_stripe_only_with_a_key(settings, fake):
    settings.STRIPE_SECRET_KEY = ""
    assert get_stripe_backend().offline is True
    settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE_URL = SECRET_KEY, fake.base_url
    settings.PROVIDER_TIMEOUT_SECONDS = 4
    backend = get_stripe_backend()
    assert isinstance(backend, StripeBackend) and backend.api_base == fake.base_url
    assert backend is get_stripe_backend()  # cached: one connection pool
    assert backend.client._requestor._client._timeout == 4.0
    assert SECRET_KEY not in repr(backend)
    settings.STRIPE_API_BASE_URL = ""
    assert get_stripe_backend().api_base == "https://api.stripe.com"


def test_decode_form_reads_stripes_nested_encoding():
    body = "a[0][b]=1&a[1][b]=2&m[k]=v&x=y&e="
    assert decode_form(body) == {"a": [{"b": "1"}, {"b": "2"}], "m": {"k": "v"}, "x": "y", "e": ""}
    assert json.dumps(decode_form("")) == "{}"


def test_the_hosted_pay_page_pays_once_and_refuses_an_expired_session(fake, backend):
    import httpx

    info = backend.checkout_session_create(idempotency_key="claim-page", **_params())
    page = httpx.get(info.url)
    assert page.status_code == 200 and "<button type=submit>Pay</button>" in page.text
    assert "Promotion code" in page.text  # allow_promotion_codes=True

    paid = httpx.post(info.url)
    assert paid.status_code == 303
    assert paid.headers["location"] == f"https://crm.example.com/p/tok/claim/success/?session_id={info.id}"
    assert httpx.post(info.url).status_code == 410  # complete: no second payment
    assert [e["type"] for e in fake.events] == ["checkout.session.completed", "invoice.paid"]

    late = backend.checkout_session_create(idempotency_key="claim-late", **_params())
    with time_machine.travel(NOW + timedelta(hours=23, seconds=1), tick=False):
        assert httpx.post(late.url).status_code == 410
    assert fake.sessions[late.id]["status"] == "expired" and len(fake.events) == 2
