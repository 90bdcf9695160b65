"""Clients manage their own card: Stripe's customer portal, opened on click.

A portal session's URL is short-lived, so what a rep texts or emails is a signed link on our
own domain (`billing_portal_link`); each click on it (or on the admin's button) creates a fresh
portal session (`billing_portal_open`) and goes there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

from crm.integrations.errors import ProviderError
from crm.integrations.stripe_api import get_stripe_backend
from crm.models import Client

PORTAL_LINK_SALT = "crm.billing-portal"
PORTAL_LINK_MAX_AGE = timedelta(days=90)


@dataclass(frozen=True)
class PortalResult:
    ok: bool
    url: str = ""
    message: str = ""


def billing_portal_link(*, client: Client) -> str:
    """The link a rep sends: on our domain, signed, valid PORTAL_LINK_MAX_AGE."""
    token = signing.TimestampSigner(salt=PORTAL_LINK_SALT).sign(str(client.pk))
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("preview:billing_portal", kwargs={"signed": token})


def billing_portal_client(*, signed: str) -> Client | None:
    """The client a billing-portal link was made for; None when forged, altered or too old."""
    try:
        value = signing.TimestampSigner(salt=PORTAL_LINK_SALT).unsign(
            signed, max_age=PORTAL_LINK_MAX_AGE.total_seconds())
    except (signing.BadSignature, ValueError):
        return None
    return Client.objects.filter(pk=int(value)).first() if value.isdigit() else None


def billing_portal_open(*, client: Client, return_url: str) -> PortalResult:
    """A fresh Stripe customer-portal session for this client, or why there can be none."""
    if not client.stripe_customer_id or client.stripe_customer_id.startswith("cus_local_"):
        return PortalResult(False, message=f"{client.name} has no Stripe customer: they did not pay through Stripe.")
    backend = get_stripe_backend()
    if backend.offline:
        return PortalResult(False, message="The billing portal needs Stripe keys (STRIPE_SECRET_KEY is not set).")
    try:
        url = backend.portal_session_create(customer_id=client.stripe_customer_id, return_url=return_url)
    except ProviderError:
        return PortalResult(False, message="Stripe did not open the billing portal just now. Please try again.")
    return PortalResult(True, url=url)
