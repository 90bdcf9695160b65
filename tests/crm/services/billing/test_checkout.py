"""The claim link's checkout: a live Stripe Checkout Session per lead (reused while open,
replaced before it expires), deterministic idempotency keys, prices and promotion codes from
company settings, the session's metadata booking the quoted prices when it is paid, and the
local checkout of development without Stripe keys."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client as HttpClient

from crm.models import CheckoutSession, Client, CompanySettings, Lead, MrrChange, Transaction
from crm.services.billing.checkout import (
    CHECKOUT_LIFETIME,
    ClaimCode,
    checkout_idempotency_key,
    checkout_local_pay,
    checkout_session_claim,
)
from fakes.stripe_events import signed
from tests.factories import CompanySettingsFactory, LeadFactory
from tests.stripe_fixtures import BASE, CHECKOUT_NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("checkout_clock", "base_settings")]
NOW = CHECKOUT_NOW
HOUR_START = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def lead():
    CompanySettingsFactory(setup_fee_cents=49_900, monthly_plan_cents=9_900, currency="usd")
    return LeadFactory(business_name="Rivera Plumbing", email="ana@rivera.example")


def _posts(fake) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]


def test_a_claim_opens_a_stripe_session_with_the_companys_prices(fake, lead):
    claim = checkout_session_claim(lead=lead)

    assert claim.code == ClaimCode.REDIRECT
    session = CheckoutSession.objects.get()
    assert claim.url == session.url == f"{fake.base_url}/pay/{session.stripe_id}"
    assert (session.lead, session.status) == (lead, CheckoutSession.Status.OPEN)
    assert session.expires_at == HOUR_START + CHECKOUT_LIFETIME
    assert timedelta(hours=22) < session.expires_at - NOW < timedelta(hours=24)
    [post] = _posts(fake)
    assert post.headers["idempotency-key"] == session.idempotency_key
    sent = post.params
    assert sent["mode"] == "subscription"
    assert [item["price_data"]["unit_amount"] for item in sent["line_items"]] == ["49900", "9900"]
    assert "recurring" not in sent["line_items"][0]["price_data"]
    assert sent["line_items"][1]["price_data"]["recurring"] == {"interval": "month"}
    assert sent["metadata"] == {"lead_id": str(lead.pk), "business_name": "Rivera Plumbing",
                                "setup_fee_cents": "49900", "monthly_plan_cents": "9900"}
    assert sent["allow_promotion_codes"] == "false"
    assert sent["customer_email"] == "ana@rivera.example"
    token = lead.preview_token
    assert sent["success_url"] == f"{BASE}/p/{token}/claim/success/?session_id={{CHECKOUT_SESSION_ID}}"
    assert sent["cancel_url"] == f"{BASE}/p/{token}/claim/cancel/"


def test_the_paid_sessions_metadata_books_the_prices_the_lead_was_quoted(fake, lead, settings):
    session = checkout_session_claim(lead=lead).session
    completed, first_invoice = fake.session_complete(session.stripe_id)  # what Stripe sends when paid
    CompanySettings.objects.filter(pk=1).update(setup_fee_cents=59_900, monthly_plan_cents=12_900)  # prices rose since

    assert completed["type"] == "checkout.session.completed"
    assert completed["data"]["object"]["metadata"] == {
        "lead_id": str(lead.pk), "business_name": "Rivera Plumbing", "setup_fee_cents": "49900",
        "monthly_plan_cents": "9900"}
    settings.STRIPE_WEBHOOK_SECRET = fake.webhook_secret
    for event in (completed, first_invoice):
        body, headers = signed(event, secret=fake.webhook_secret)
        response = HttpClient().post("/webhooks/stripe/", data=body, content_type="application/json",
                                     HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"])
        assert response.status_code == 200

    client = Client.objects.get(lead=lead)
    assert sorted(client.transactions.values_list("kind", "amount_cents")) == [
        (Transaction.Kind.SETUP, 49_900), (Transaction.Kind.SUBSCRIPTION, 9_900)]
    assert client.subscriptions.get().amount_cents == 9_900
    assert list(MrrChange.objects.values_list("kind", "delta_cents")) == [(MrrChange.Kind.NEW, 9_900)]


def test_price_ids_and_promotion_codes_follow_the_company_setting(fake, lead):
    fake.prices.update({"price_setup_1": 30_000, "price_month_1": 7_500})
    lead_company = lead  # the settings row exists
    CompanySettings.objects.filter(pk=1).update(stripe_setup_price_id="price_setup_1",
                                                stripe_monthly_price_id="price_month_1", allow_promotion_codes=True)

    assert checkout_session_claim(lead=lead_company).code == ClaimCode.REDIRECT

    sent = _posts(fake)[0].params
    assert sent["line_items"] == [{"price": "price_setup_1", "quantity": "1"},
                                  {"price": "price_month_1", "quantity": "1"}]
    assert sent["allow_promotion_codes"] == "true"


def test_an_open_session_is_reused_without_calling_stripe(fake, lead, django_assert_max_num_queries):
    first = checkout_session_claim(lead=lead)
    with time_machine.travel(NOW + timedelta(hours=20), tick=False), django_assert_max_num_queries(3):
        again = checkout_session_claim(lead=lead)

    assert again.session == first.session
    assert len(_posts(fake)) == 1


def test_a_session_expiring_within_an_hour_is_replaced(fake, lead):
    first = checkout_session_claim(lead=lead).session
    later = first.expires_at - timedelta(minutes=50)

    with time_machine.travel(later, tick=False):
        second = checkout_session_claim(lead=lead).session

    assert second.stripe_id != first.stripe_id
    assert second.idempotency_key != first.idempotency_key
    assert second.expires_at == later.replace(minute=0) + CHECKOUT_LIFETIME
    assert len(fake.sessions) == 2
    first.refresh_from_db()
    assert first.status == CheckoutSession.Status.OPEN  # still payable at Stripe until it expires

    with time_machine.travel(HOUR_START + timedelta(hours=25), tick=False):
        assert checkout_session_claim(lead=lead).session == second
    first.refresh_from_db()
    assert first.status == CheckoutSession.Status.EXPIRED


def test_the_same_request_gets_the_same_key_and_so_the_same_stripe_session(fake, lead):
    first = checkout_session_claim(lead=lead).session
    # A second request that did not see the first one's row (they raced): same key, same session.
    key = first.idempotency_key
    CheckoutSession.objects.all().delete()
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        second = checkout_session_claim(lead=lead).session

    assert second.idempotency_key == key
    assert second.stripe_id == first.stripe_id
    assert len(fake.sessions) == 1
    posts = _posts(fake)
    assert [p.headers["idempotency-key"] for p in posts] == [key, key]


def test_idempotency_keys_are_deterministic():
    request = {"currency": "usd", "expires_at": 1_800_000_000, "metadata": {"lead_id": "7"}}
    key = checkout_idempotency_key(lead_id=7, generation=0, request=request)
    assert key == checkout_idempotency_key(lead_id=7, generation=0, request=dict(reversed(list(request.items()))))
    assert key.startswith("claim-") and len(key) <= 100
    assert key != checkout_idempotency_key(lead_id=8, generation=0, request=request)
    assert key != checkout_idempotency_key(lead_id=7, generation=1, request=request)
    assert key != checkout_idempotency_key(lead_id=7, generation=0, request={**request, "currency": "eur"})


def test_a_paid_lead_gets_no_new_session(fake, lead):
    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.PAID)
    lead.refresh_from_db()

    assert checkout_session_claim(lead=lead).code == ClaimCode.PAID
    assert fake.requests == [] and not CheckoutSession.objects.exists()


def test_stripe_failing_is_a_failed_claim_and_stores_nothing(fake, lead):
    fake.fail_next(500)

    claim = checkout_session_claim(lead=lead)

    assert claim.code == ClaimCode.FAILED and "try again" in claim.message
    assert not CheckoutSession.objects.exists()


def test_without_keys_in_production_checkout_is_unavailable(lead):
    claim = checkout_session_claim(lead=lead)
    assert claim.code == ClaimCode.UNAVAILABLE
    assert not CheckoutSession.objects.exists()


def test_without_keys_in_development_the_local_checkout_is_used_and_reused(base_settings, lead):
    base_settings.DEBUG = True

    first = checkout_session_claim(lead=lead)
    again = checkout_session_claim(lead=lead)

    assert first.code == again.code == ClaimCode.LOCAL
    assert first.session == again.session
    assert first.session.stripe_id.startswith("cs_local_")
    assert first.session.url == f"{BASE}/p/{lead.preview_token}/claim/"


def test_local_pay_runs_the_checkout_once(base_settings, lead):
    base_settings.DEBUG = True
    session = checkout_session_claim(lead=lead).session

    paid = checkout_local_pay(lead=lead, session_id=session.stripe_id)
    again = checkout_local_pay(lead=lead, session_id=session.stripe_id)

    assert paid.code == again.code == ClaimCode.PAID
    client = Client.objects.get()
    assert client.lead == lead and client.stripe_customer_id.startswith("cus_local_")
    assert list(Transaction.objects.values_list("kind", "amount_cents")) == [(Transaction.Kind.SETUP, 49_900)]
    assert client.subscriptions.get().amount_cents == 9_900
    lead.refresh_from_db()
    session.refresh_from_db()
    assert lead.status == Lead.Status.PAID
    assert session.status == CheckoutSession.Status.COMPLETE


def test_local_pay_refuses_outside_development_unknown_and_expired_sessions(base_settings, lead):
    base_settings.DEBUG = True
    session = checkout_session_claim(lead=lead).session

    assert checkout_local_pay(lead=lead, session_id="cs_local_nope").code == ClaimCode.FAILED
    other = LeadFactory()
    assert checkout_local_pay(lead=other, session_id=session.stripe_id).code == ClaimCode.FAILED
    with time_machine.travel(session.expires_at + timedelta(seconds=1), tick=False):
        assert checkout_local_pay(lead=lead, session_id=session.stripe_id).code == ClaimCode.FAILED
    base_settings.DEBUG = False
    assert checkout_local_pay(lead=lead, session_id=session.stripe_id).code == ClaimCode.UNAVAILABLE
    assert not Client.objects.exists() and not Transaction.objects.exists()
