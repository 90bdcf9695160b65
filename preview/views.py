"""Public preview pages, their tracking endpoint, the claim (checkout) pages and the clients'
billing-portal link. Views read and call services."""

import json

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from crm.models import CompanySettings
from crm.models.base import format_cents
from crm.selectors.leads import lead_get_by_preview_token
from crm.selectors.previews import brand_colour, preview_page_context
from crm.services.billing.checkout import ClaimCode, checkout_lines, checkout_local_pay, checkout_session_claim
from crm.services.billing.portal import billing_portal_client, billing_portal_open
from crm.services.tracking import preview_track, tracking_nonce

MAX_BODY_BYTES = 2048


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number")  # NaN, Infinity, -Infinity


def preview_page(request: HttpRequest, token: str) -> HttpResponse:
    lead = lead_get_by_preview_token(token=token)
    if lead is None:
        raise Http404()
    context = preview_page_context(lead=lead)
    context["tracking"] = {"endpoint": request.build_absolute_uri(f"/p/{token}/t/"),
                           "nonce": tracking_nonce(token)}
    response = render(request, "preview/page.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=status)


def _signed_in_staff(request: HttpRequest) -> bool:
    """Staff signed in to the admin (their own looks are not counted). Without a session cookie
    nobody is signed in, and the session is not read at all."""
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


# No never_cache: an answer to a POST is never stored by a browser or proxy without explicit
# freshness, which these answers do not give (bench/tracking.py: the hot path's CPU counts).
@csrf_exempt
@require_POST
def track(request: HttpRequest, token: str) -> HttpResponse:
    """One event from the page's script: JSON, at most 2 KB (refused by its Content-Length
    before anything is read), handed to the tracking service, whose answer is returned."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad Content-Length")
    if length > MAX_BODY_BYTES:
        return _error(413, "payload too large")
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "payload too large")
    try:
        payload = json.loads(body, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _error(400, "body must be JSON")
    result = preview_track(token=token, payload=payload, ip=request.META.get("REMOTE_ADDR", ""),
                           user_agent=request.META.get("HTTP_USER_AGENT", ""), staff=_signed_in_staff(request))
    return JsonResponse(result.body, status=result.status)


# --- claiming the website: checkout ------------------------------------------------------

def _public(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _lead_or_404(token: str):
    lead = lead_get_by_preview_token(token=token)
    if lead is None:
        raise Http404()
    return lead


def _notice(request: HttpRequest, context: dict, *, title: str, message: str, status: int) -> HttpResponse:
    return _public(render(request, "preview/notice.html", {**context, "title": title, "message": message},
                          status=status))


def _claim_answer(request: HttpRequest, lead, claim) -> HttpResponse:
    token = lead.preview_token
    if claim.code == ClaimCode.PAID:
        return redirect("preview:claim_success", token=token)
    if claim.code == ClaimCode.REDIRECT:
        return _public(HttpResponseRedirect(claim.url))
    context = preview_page_context(lead=lead)
    if claim.code == ClaimCode.LOCAL:
        setup, monthly = checkout_lines(context["company"])
        currency = context["company"].currency
        return _public(render(request, "preview/claim_local.html", {
            **context, "session": claim.session, "setup": format_cents(setup.amount_cents, currency),
            "monthly": format_cents(monthly.amount_cents, currency),
            "total": format_cents(setup.amount_cents + monthly.amount_cents, currency),
        }))
    title = "Online payment is not available" if claim.code == ClaimCode.UNAVAILABLE else "Please try again"
    return _notice(request, context, title=title, message=claim.message, status=503)


@never_cache
@require_GET
def claim(request: HttpRequest, token: str) -> HttpResponse:
    """The claim link: to the lead's live Stripe checkout (opened or reused), the local checkout
    in development without Stripe keys, or a page that says why neither is possible."""
    lead = _lead_or_404(token)
    return _claim_answer(request, lead, checkout_session_claim(lead=lead))


@never_cache
@require_POST
def claim_pay(request: HttpRequest, token: str) -> HttpResponse:
    """The local checkout's "Pay" (development without Stripe keys only)."""
    lead = _lead_or_404(token)
    session_id = request.POST.get("session_id", "")[:100]
    result = checkout_local_pay(lead=lead, session_id=session_id)
    if result.code == ClaimCode.PAID:
        return redirect(reverse("preview:claim_success", kwargs={"token": token}) + f"?session_id={session_id}")
    status = 503 if result.code == ClaimCode.UNAVAILABLE else 400
    return _notice(request, preview_page_context(lead=lead), title="Payment not taken", message=result.message,
                   status=status)


@never_cache
@require_GET
def claim_success(request: HttpRequest, token: str) -> HttpResponse:
    lead = _lead_or_404(token)
    context = preview_page_context(lead=lead)
    context["confirmed"] = lead.status == lead.Status.PAID
    return _public(render(request, "preview/claim_success.html", context))


@require_GET
def claim_cancel(request: HttpRequest, token: str) -> HttpResponse:
    lead = _lead_or_404(token)
    return _public(render(request, "preview/claim_cancel.html", preview_page_context(lead=lead)))


# --- the clients' billing-portal link ------------------------------------------------------

def _company_context() -> dict:
    company = CompanySettings.load()
    return {"company": company, "brand_name": company.preview_brand_name or company.name,
            "color": brand_colour(company.preview_primary_color)}


@never_cache
@require_GET
def billing_portal(request: HttpRequest, signed: str) -> HttpResponse:
    """A client's billing link (sent by their rep): a fresh Stripe portal session, then there."""
    client = billing_portal_client(signed=signed)
    if client is None:
        raise Http404()
    result = billing_portal_open(client=client, return_url=settings.PUBLIC_BASE_URL.rstrip("/")
                                 + reverse("preview:billing_portal_done"))
    if result.ok:
        return _public(HttpResponseRedirect(result.url))
    context = _company_context()
    return _notice(request, context, title="Billing page unavailable", status=503,
                   message=f"Your billing page cannot be opened right now. Please contact {context['brand_name']}.")


@require_GET
def billing_portal_done(request: HttpRequest) -> HttpResponse:
    return _notice(request, _company_context(), title="All set", status=200,
                   message="Your billing details are saved. You can close this page.")
