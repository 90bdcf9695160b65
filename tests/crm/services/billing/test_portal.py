"""Clients manage their own card: the signed link a rep sends, the Stripe portal session each
click creates (real SDK against the fake Stripe API), and the link on the Client admin page."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client as HttpClient

from crm.services.billing.portal import billing_portal_client, billing_portal_link, billing_portal_open
from fakes.stripe_server import FakeStripeServer
from tests.factories import ClientFactory, CompanySettingsFactory, RepUserFactory
from tests.stripe_fixtures import BASE, CHECKOUT_NOW, FAKE_STRIPE_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("checkout_clock", "base_settings", "brand")]
NOW = CHECKOUT_NOW


@pytest.fixture
def brand():
    CompanySettingsFactory(preview_brand_name="Brightside Studio")


@pytest.fixture
def client_row():
    return ClientFactory(name="Rivera Plumbing", stripe_customer_id="cus_test_rivera")


def test_the_link_is_signed_on_our_domain_and_names_its_client(client_row):
    link = billing_portal_link(client=client_row)
    assert link.startswith(f"{BASE}/p/billing/")
    signed = link.removeprefix(f"{BASE}/p/billing/").rstrip("/")
    assert billing_portal_client(signed=signed) == client_row
    assert billing_portal_client(signed=signed[:-1] + ("A" if signed[-1] != "A" else "B")) is None
    assert billing_portal_client(signed=f"{client_row.pk}") is None
    assert billing_portal_client(signed="") is None
    with time_machine.travel(NOW + timedelta(days=91), tick=False):
        assert billing_portal_client(signed=signed) is None


def test_opening_creates_a_portal_session_for_the_stripe_customer(fake, client_row):
    result = billing_portal_open(client=client_row, return_url=f"{BASE}/p/billing/done/")

    assert result.ok and result.url.startswith(f"{fake.base_url}/portal/bps_")
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/billing_portal/sessions")
    assert request.params == {"customer": "cus_test_rivera", "return_url": f"{BASE}/p/billing/done/"}


@pytest.mark.parametrize("customer_id", [None, "cus_local_abc"])
def test_a_client_who_did_not_pay_through_stripe_has_no_portal(fake, customer_id):
    client = ClientFactory(stripe_customer_id=customer_id)
    result = billing_portal_open(client=client, return_url=BASE)
    assert not result.ok and "no Stripe customer" in result.message
    assert fake.requests == []


def test_without_keys_or_when_stripe_fails_there_is_a_message_not_an_error(base_settings, client_row):
    result = billing_portal_open(client=client_row, return_url=BASE)
    assert not result.ok and "STRIPE_SECRET_KEY" in result.message

    with FakeStripeServer(api_key=FAKE_STRIPE_KEY) as fake:
        base_settings.STRIPE_SECRET_KEY, base_settings.STRIPE_API_BASE_URL = fake.api_key, fake.base_url
        base_settings.PROVIDER_MAX_ATTEMPTS = 1
        fake.fail_next(500)
        result = billing_portal_open(client=client_row, return_url=BASE)
    assert not result.ok and "try again" in result.message


def test_the_public_link_opens_a_fresh_portal_session_per_click(fake, client_row):
    path = billing_portal_link(client=client_row).removeprefix(BASE)

    first = HttpClient().get(path)
    second = HttpClient().get(path)

    assert first.status_code == second.status_code == 302
    assert first["Location"].startswith(f"{fake.base_url}/portal/") and first["Location"] != second["Location"]
    assert fake.requests[0].params["return_url"] == f"{BASE}/p/billing/done/"
    assert HttpClient().get(path[:-3] + "xx/").status_code == 404
    done = HttpClient().get("/p/billing/done/")
    assert done.status_code == 200 and "Brightside Studio" in done.content.decode()


def test_the_public_link_without_stripe_says_so_politely(client_row):
    response = HttpClient().get(billing_portal_link(client=client_row).removeprefix(BASE))
    assert response.status_code == 503
    body = response.content.decode()
    assert "cannot be opened right now" in body and "STRIPE_SECRET_KEY" not in body


def test_the_client_admin_page_shows_the_link_and_its_button_opens_the_portal(fake, client_row, admin_client):
    page = admin_client.get(f"/admin/crm/client/{client_row.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Billing portal link" in html
    assert billing_portal_link(client=client_row) in html
    button = f"/admin/crm/client/{client_row.pk}/billing-portal/"
    assert button in html

    response = admin_client.get(button)

    assert response.status_code == 302 and response["Location"].startswith(f"{fake.base_url}/portal/")
    assert fake.requests[-1].params["return_url"] == f"http://testserver/admin/crm/client/{client_row.pk}/change/"


def test_the_admin_button_without_a_stripe_customer_explains_and_goes_back(fake, admin_client):
    client = ClientFactory(stripe_customer_id=None)
    response = admin_client.get(f"/admin/crm/client/{client.pk}/billing-portal/", follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/crm/client/{client.pk}/change/"
    assert "no Stripe customer" in response.content.decode()
    assert fake.requests == []


def test_a_rep_cannot_open_another_reps_clients_portal(fake):
    owner, other = RepUserFactory(username="owner_rep"), RepUserFactory(username="other_rep")
    client = ClientFactory(rep=owner, stripe_customer_id="cus_test_owned")
    browser = HttpClient()
    browser.force_login(other)
    assert browser.get(f"/admin/crm/client/{client.pk}/billing-portal/").status_code in (302, 403, 404)
    assert fake.requests == []
