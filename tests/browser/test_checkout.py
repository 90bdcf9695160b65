"""The issue's end-to-end promise, in real Chromium: a lead opens their preview, clicks "Claim
this website", pays on (fake) Stripe Checkout, whose signed webhooks reach the live server; an
admin then sees the client, the subscription, the transactions, MRR moved and the rep's
commission. The app talks to the fake Stripe API through the real stripe SDK."""

import re
from decimal import Decimal

from django.core.cache import cache

from crm.integrations import stripe_api
from crm.models import CheckoutSession, Client, Commission, Lead, MrrChange, RepProfile, Subscription, Transaction
from fakes.stripe_server import FakeStripeServer
from tests.browser.conftest import DESKTOP_CHROME_UA
from tests.factories import TEST_PASSWORD, AdminUserFactory, CompanySettingsFactory, LeadFactory, RepUserFactory

WEBHOOK_SECRET = "whsec_browser_0123456789"


def _log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")
    assert "/admin/login/" not in page.url, f"{username} could not log in"


def test_a_lead_claims_and_pays_and_the_admin_sees_client_subscription_mrr_and_commission(
    transactional_db, live_server, settings, new_context, db_read
):
    cache.clear()
    CompanySettingsFactory(preview_brand_name="Brightside Studio", setup_fee_cents=49_900, monthly_plan_cents=9_900,
                           currency="usd")
    rep = RepUserFactory(username="rep_closer")
    RepProfile.objects.filter(user=rep).update(commission_rate=Decimal("0.1500"))
    admin = AdminUserFactory(username="boss")
    lead = LeadFactory(business_name="Rivera Plumbing", contact_first_name="Ana", assigned_rep=rep,
                       city="Austin", state="TX")

    with FakeStripeServer(api_key="sk_test_browser_0123456789", webhook_secret=WEBHOOK_SECRET,
                          webhook_url=f"{live_server.url}/webhooks/stripe/") as fake:
        settings.STRIPE_SECRET_KEY = fake.api_key
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        settings.STRIPE_API_BASE_URL = fake.base_url
        settings.PUBLIC_BASE_URL = live_server.url
        stripe_api._stripe_backend.cache_clear()

        visitor = new_context(user_agent=DESKTOP_CHROME_UA).new_page()
        visitor.goto(f"{live_server.url}/p/{lead.preview_token}/")
        with visitor.expect_navigation(url=re.compile(re.escape(fake.base_url) + r"/pay/cs_test_")):
            visitor.locator("#offer").get_by_role("link", name="Claim this website").click()
        session = db_read(lambda: CheckoutSession.objects.get(lead=lead))
        assert visitor.url == session.url
        assert "Rivera Plumbing" in visitor.locator("h1").text_content()

        with visitor.expect_navigation(url=re.compile(r"/claim/success/")):
            visitor.get_by_role("button", name="Pay").click()
        assert f"session_id={session.stripe_id}" in visitor.url
        assert "Payment received" in visitor.locator("main").text_content()
        assert [(kind, status) for _, kind, status in fake.deliveries] == [
            ("checkout.session.completed", 200), ("invoice.paid", 200)]
    live_server.gate.wait_quiet()

    client = db_read(lambda: Client.objects.get(lead=lead))
    assert client.rep == rep and client.stripe_customer_id.startswith("cus_test_")
    assert db_read(lambda: Lead.objects.get(pk=lead.pk).status) == Lead.Status.PAID
    subscription = db_read(lambda: Subscription.objects.get(client=client))
    assert (subscription.amount_cents, subscription.status) == (9_900, Subscription.Status.ACTIVE)
    assert db_read(lambda: sorted(Transaction.objects.filter(client=client).values_list("kind", "amount_cents"))) == [
        (Transaction.Kind.SETUP, 49_900), (Transaction.Kind.SUBSCRIPTION, 9_900)]
    assert db_read(lambda: list(MrrChange.objects.filter(client=client).values_list("kind", "delta_cents",
                                                                                    "mrr_after_cents"))) == [
        (MrrChange.Kind.NEW, 9_900, 9_900)]
    assert db_read(lambda: sorted(Commission.objects.filter(rep=rep).values_list("amount_cents", flat=True))) == [
        1_485, 7_485]
    assert db_read(lambda: CheckoutSession.objects.get(pk=session.pk).status) == CheckoutSession.Status.COMPLETE

    page = new_context(viewport={"width": 1440, "height": 900}).new_page()
    _log_in(page, live_server.url, admin.username)
    page.goto(f"{live_server.url}/admin/crm/client/")
    with page.expect_navigation():
        page.get_by_role("link", name="Rivera Plumbing").first.click()
    assert f"/admin/crm/client/{client.pk}/change/" in page.url
    # The subscription inline, the transactions inline and the portal link on the client's page.
    assert page.locator("input[name$='-plan_name']").first.input_value() == "Hosting & care"
    assert page.locator("input[name$='-amount_cents']").first.input_value() == "9900"
    client_page = page.content()
    assert "49900" in client_page and client.stripe_customer_id in client_page
    assert "Billing portal link" in client_page and "/p/billing/" in client_page

    page.goto(f"{live_server.url}/admin/crm/subscription/")
    subscriptions = page.locator("#result_list").text_content()
    assert "Rivera Plumbing" in subscriptions and "$99.00" in subscriptions

    page.goto(f"{live_server.url}/admin/crm/transaction/")
    transactions = page.locator("#result_list").text_content()
    assert "$499.00" in transactions and "$99.00" in transactions

    page.goto(f"{live_server.url}/admin/crm/commission/")
    commissions = page.locator("#result_list").text_content()
    assert "rep_closer" in commissions and "$74.85" in commissions and "$14.85" in commissions
