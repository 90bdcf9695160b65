"""The claim link /p/<token>/claim/ and its pages: to the lead's live Stripe checkout (reused,
replaced before it expires), the local checkout only in development, a clear page (never a
500) otherwise; the preview's buttons and {checkout_url} in texts point at it."""

import string
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.test import Client
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from crm.models import CheckoutSession, Client as ClientRow, CompanySettings, Lead, Transaction
from crm.services.messaging.templates import preview_url, template_context, template_render
from tests.factories import CompanySettingsFactory, LeadFactory
from tests.stripe_fixtures import BASE, CHECKOUT_NOW

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("checkout_clock", "base_settings")]
NOW = CHECKOUT_NOW


@pytest.fixture
def lead():
    CompanySettingsFactory(preview_brand_name="Brightside Studio", setup_fee_cents=49_900, monthly_plan_cents=9_900)
    return LeadFactory(business_name="Rivera Plumbing", contact_first_name="Ana")


def _claim(lead) -> str:
    return f"/p/{lead.preview_token}/claim/"


def test_the_preview_buttons_and_texts_point_at_the_claim_link_on_our_domain(lead):
    html = Client().get(f"/p/{lead.preview_token}/").content.decode()
    claim_url = f"{BASE}/p/{lead.preview_token}/claim/"
    assert html.count(f'href="{claim_url}" data-cta="claim"') == 3  # ribbon, offer, dock
    assert 'id="thanks-claim"' not in html

    context = template_context(lead=lead, company=CompanySettings.load(), preview_url=preview_url(lead))
    assert template_render("Claim it: {checkout_url}", context) == f"Claim it: {claim_url}"


def test_a_claim_redirects_to_the_live_stripe_session_and_reuses_it(fake, lead):
    first = Client().get(_claim(lead))
    again = Client().get(_claim(lead))

    assert first.status_code == again.status_code == 302
    session = CheckoutSession.objects.get()
    assert first["Location"] == again["Location"] == f"{fake.base_url}/pay/{session.stripe_id}"
    assert len([r for r in fake.requests if r.method == "POST"]) == 1
    assert first["X-Robots-Tag"] == "noindex, nofollow"
    assert "no-cache" in first["Cache-Control"] or "max-age=0" in first["Cache-Control"]


def test_a_session_about_to_expire_is_replaced_so_an_old_text_still_works(fake, lead):
    first = Client().get(_claim(lead))["Location"]
    with time_machine.travel(NOW + timedelta(hours=23), tick=False):  # 40 minutes left on the first
        second = Client().get(_claim(lead))["Location"]
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        third = Client().get(_claim(lead))["Location"]

    assert len({first, second, third}) == 3
    assert CheckoutSession.objects.filter(status=CheckoutSession.Status.OPEN).count() == 1


def test_stripe_failing_shows_a_try_again_page(fake, lead):
    fake.fail_next(500)
    response = Client().get(_claim(lead))
    assert response.status_code == 503
    assert "try again" in response.content.decode()


def test_without_keys_in_production_the_claim_says_not_available(lead):
    response = Client().get(_claim(lead))
    assert response.status_code == 503
    body = response.content.decode()
    assert "Online payment is not available" in body and "Rivera Plumbing" in body
    pay = Client().post(f"/p/{lead.preview_token}/claim/pay/", {"session_id": "cs_local_x"})
    assert pay.status_code == 503
    assert not CheckoutSession.objects.exists() and not ClientRow.objects.exists()


def test_in_development_without_keys_the_local_checkout_takes_the_payment(base_settings, lead):
    base_settings.DEBUG = True
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(_claim(lead))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Development checkout" in html and "$499.00" in html and "$99.00 / month" in html
    session = CheckoutSession.objects.get()
    assert f'value="{session.stripe_id}"' in html
    token = page.cookies["csrftoken"].value
    paid = browser.post(f"/p/{lead.preview_token}/claim/pay/",
                        {"session_id": session.stripe_id, "csrfmiddlewaretoken": token})
    assert paid.status_code == 302
    assert paid["Location"] == f"/p/{lead.preview_token}/claim/success/?session_id={session.stripe_id}"
    assert ClientRow.objects.get().lead == lead
    assert Transaction.objects.get().amount_cents == 49_900
    success = browser.get(paid["Location"])
    assert "Payment received" in success.content.decode()
    # Paid: the claim link now goes to the thank-you page.
    assert browser.get(_claim(lead))["Location"] == f"/p/{lead.preview_token}/claim/success/"


def test_the_local_pay_refuses_a_session_of_another_lead(base_settings, lead):
    base_settings.DEBUG = True
    Client().get(_claim(lead))
    session = CheckoutSession.objects.get()
    other = LeadFactory()
    response = Client().post(f"/p/{other.preview_token}/claim/pay/", {"session_id": session.stripe_id})
    assert response.status_code == 400
    assert not ClientRow.objects.exists()


def test_success_before_the_webhook_says_confirming_and_cancel_offers_to_try_again(lead):
    success = Client().get(f"/p/{lead.preview_token}/claim/success/?session_id=cs_test_x")
    assert success.status_code == 200 and "We are confirming your payment" in success.content.decode()
    Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.PAID)
    assert "Payment received" in Client().get(f"/p/{lead.preview_token}/claim/success/").content.decode()

    cancel = Client().get(f"/p/{lead.preview_token}/claim/cancel/")
    html = cancel.content.decode()
    assert cancel.status_code == 200 and "No payment was taken" in html
    assert f'href="/p/{lead.preview_token}/claim/"' in html


@pytest.mark.parametrize("suffix", ["claim/", "claim/success/", "claim/cancel/"])
def test_unknown_or_malformed_tokens_are_404(lead, suffix):
    for token in ("nosuchtoken-" + "x" * 20, "short", "bad%00token-xxxxxxxx", "x" * 65):
        assert Client().get(f"/p/{token}/{suffix}").status_code == 404
    assert Client().post(f"/p/{'nosuchtoken-' + 'x' * 20}/claim/pay/", {"session_id": "x"}).status_code == 404


def test_methods_that_do_not_belong_are_405(lead):
    assert Client().post(_claim(lead)).status_code == 405
    assert Client().get(f"/p/{lead.preview_token}/claim/pay/").status_code == 405


ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
FUZZ = hypothesis_settings(max_examples=80, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _part(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@FUZZ
@given(path=ANY_TEXT, session_id=ANY_TEXT, query=ANY_TEXT, debug=st.booleans(),
       page=st.sampled_from(["claim/", "claim/pay/", "claim/success/", "claim/cancel/"]),
       extra=st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8), ANY_TEXT, max_size=3))
def test_no_input_gives_a_500(base_settings, lead, path, session_id, query, debug, page, extra):
    base_settings.DEBUG = debug
    browser = Client()
    for url in (f"/p/{_part(path)}/{page}", f"/p/{lead.preview_token}/{page}?session_id={_part(query)}",
                f"/p/billing/{_part(path)}/"):
        assert browser.get(url).status_code in (200, 302, 404, 405, 503)
    response = browser.post(f"/p/{lead.preview_token}/claim/pay/", {**extra, "session_id": session_id})
    assert response.status_code in (302, 400, 503)
