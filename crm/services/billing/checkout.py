"""Checkout for a lead's claim link (/p/<token>/claim/): which Stripe Checkout Session it leads
to, and the local checkout of development without Stripe keys.

A claim reuses the lead's open session while it has more than REPLACE_WITHIN left, else opens
a new one (Stripe's sessions live 24 h; a link in a text must always lead to a live one). A
new session's idempotency key is a hash of everything the request sends plus the lead's count
of sessions so far and the hour, so the same request (a double click, two tabs, a retry) gets
the same key and Stripe the same session, while a replacement gets a new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crm.integrations.errors import ProviderError
from crm.integrations.stripe_api import CheckoutLine, get_stripe_backend
from crm.models import CheckoutSession, Client, CompanySettings, Lead
from crm.services.billing.payments import checkout_complete

# Stripe's longest is 24 h from its own clock: a few minutes' margin for skew between ours and its.
CHECKOUT_LIFETIME = timedelta(hours=24) - timedelta(minutes=5)
REPLACE_WITHIN = timedelta(hours=1)  # a session closer than this to expiry is replaced
KEY_WINDOW_SECONDS = 3600
SETUP_LINE_NAME = "Website setup"
MONTHLY_LINE_NAME = "Website hosting & care"
LOCAL_SESSION_ID = re.compile(r"cs_local_[0-9a-f]{24}")  # what the offline backend makes


class ClaimCode(StrEnum):
    REDIRECT = "redirect"  # to Stripe's hosted checkout
    LOCAL = "local"  # the local checkout page (development without Stripe keys)
    PAID = "paid"  # nothing to pay: the lead is a client already
    UNAVAILABLE = "unavailable"  # no Stripe keys in production
    FAILED = "failed"  # Stripe did not answer usefully; try again later


@dataclass(frozen=True)
class Claim:
    code: ClaimCode
    message: str = ""
    session: CheckoutSession | None = None

    @property
    def url(self) -> str:
        return self.session.url if self.session else ""


def checkout_lines(company: CompanySettings) -> tuple[CheckoutLine, CheckoutLine]:
    """The setup fee and the monthly plan: Stripe price ids when set, else the amounts."""
    return (CheckoutLine(SETUP_LINE_NAME, company.setup_fee_cents, company.stripe_setup_price_id),
            CheckoutLine(MONTHLY_LINE_NAME, company.monthly_plan_cents, company.stripe_monthly_price_id))


def checkout_idempotency_key(*, lead_id: int, generation: int, request: dict) -> str:
    """The same request (same lead, same count of earlier sessions, same parameters) -> the same key."""
    canonical = json.dumps({"lead": lead_id, "generation": generation, "request": request},
                           sort_keys=True, separators=(",", ":"), default=str)
    return "claim-" + hashlib.sha256(canonical.encode()).hexdigest()[:48]


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _lead_paid(lead: Lead) -> bool:
    return lead.status == Lead.Status.PAID or Client.objects.filter(lead=lead).exists()


def checkout_session_claim(*, lead: Lead, now: datetime | None = None) -> Claim:
    """Where the lead's claim link leads now: their live session (reused while it has more than
    REPLACE_WITHIN left), a new one, or why there is none. Never raises for a provider failure."""
    now = now or timezone.now()
    if _lead_paid(lead):
        return Claim(ClaimCode.PAID, "This website is already yours.")
    backend = get_stripe_backend()
    if backend.offline and not settings.DEBUG:
        return Claim(ClaimCode.UNAVAILABLE, "Online payment is not set up yet. We will contact you to finish.")
    code = ClaimCode.LOCAL if backend.offline else ClaimCode.REDIRECT
    sessions = CheckoutSession.objects.filter(lead=lead, status=CheckoutSession.Status.OPEN)
    sessions.filter(expires_at__lte=now).update(status=CheckoutSession.Status.EXPIRED)
    live = sessions.filter(expires_at__gt=now + REPLACE_WITHIN).order_by("-expires_at").first()
    if live is not None:
        return Claim(code, session=live)

    company = CompanySettings.load()
    setup, monthly = checkout_lines(company)
    window = int(now.timestamp()) // KEY_WINDOW_SECONDS * KEY_WINDOW_SECONDS
    token = lead.preview_token
    request = {
        "setup": setup, "monthly": monthly, "currency": company.currency.lower(),
        "metadata": {"lead_id": str(lead.pk), "business_name": lead.business_name[:200],
                     "setup_fee_cents": str(company.setup_fee_cents),
                     "monthly_plan_cents": str(company.monthly_plan_cents)},
        "customer_email": lead.email or "",
        "success_url": _absolute(reverse("preview:claim_success", kwargs={"token": token}))
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": _absolute(reverse("preview:claim_cancel", kwargs={"token": token})),
        # Stripe takes 30 min .. 24 h from now; counting from the hour's start keeps it the
        # same for every identical request within the hour.
        "expires_at": window + int(CHECKOUT_LIFETIME.total_seconds()),
        "allow_promotion_codes": company.allow_promotion_codes,
    }
    generation = CheckoutSession.objects.filter(lead=lead).count()
    key = checkout_idempotency_key(lead_id=lead.pk, generation=generation, request={**request, "window": window})
    try:
        info = backend.checkout_session_create(idempotency_key=key, **request)
    except ProviderError:
        return Claim(ClaimCode.FAILED, "We could not open the payment page just now. Please try again in a minute.")
    status = info.status if info.status in CheckoutSession.Status.values else CheckoutSession.Status.OPEN
    session, _ = CheckoutSession.objects.get_or_create(
        stripe_id=info.id,
        defaults={"lead": lead, "url": info.url or _absolute(reverse("preview:claim", kwargs={"token": token})),
                  "status": status, "idempotency_key": key,
                  "expires_at": datetime.fromtimestamp(info.expires_at, tz=UTC)},
    )
    if session.lead_id != lead.pk or session.status != CheckoutSession.Status.OPEN:
        return Claim(ClaimCode.FAILED, "This payment page is no longer open. Please try again in a minute.")
    return Claim(code, session=session)


def checkout_local_pay(*, lead: Lead, session_id: str, now: datetime | None = None) -> Claim:
    """The local checkout page's "Pay" (development without Stripe keys): the same
    checkout_complete a paid Stripe session runs, at the company's prices. Idempotent."""
    now = now or timezone.now()
    if not (settings.DEBUG and get_stripe_backend().offline):
        return Claim(ClaimCode.UNAVAILABLE, "The local checkout only exists in development without Stripe keys.")
    session = (CheckoutSession.objects.filter(lead=lead, stripe_id=session_id).first()
               if LOCAL_SESSION_ID.fullmatch(session_id or "") else None)
    if session is None:
        return Claim(ClaimCode.FAILED, "This payment page does not exist. Please start again from your preview.")
    if session.status == CheckoutSession.Status.COMPLETE or _lead_paid(lead):
        return Claim(ClaimCode.PAID, "This website is already yours.", session=session)
    if session.expires_at <= now:
        return Claim(ClaimCode.FAILED, "This payment page has expired. Please start again from your preview.")
    company = CompanySettings.load()
    reference = session.stripe_id.removeprefix("cs_local_")
    with transaction.atomic():
        checkout_complete(
            lead_id=lead.pk, session_id=session.stripe_id, customer_id=f"cus_local_{reference}",
            subscription_id=f"sub_local_{reference}", setup_amount_cents=company.setup_fee_cents,
            monthly_amount_cents=company.monthly_plan_cents, currency=company.currency, occurred_at=now,
            setup_payment_id=f"{session.stripe_id}:setup",
        )
    session.refresh_from_db()
    return Claim(ClaimCode.PAID, "Payment received.", session=session)
