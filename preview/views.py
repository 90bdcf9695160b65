"""Public preview pages and their tracking endpoint. Views read and call services."""

import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.selectors.leads import lead_get_by_preview_token
from crm.selectors.previews import preview_page_context
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


@csrf_exempt
@require_POST
@never_cache
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
    user = getattr(request, "user", None)
    result = preview_track(token=token, payload=payload, ip=request.META.get("REMOTE_ADDR", ""),
                           user_agent=request.META.get("HTTP_USER_AGENT", ""),
                           staff=bool(user is not None and user.is_authenticated and user.is_staff))
    return JsonResponse(result.body, status=result.status)
