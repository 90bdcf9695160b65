"""Public preview pages and their tracking endpoint. Views read and call services."""

import json
import time

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from crm.selectors.leads import lead_get_by_preview_token
from crm.selectors.previews import preview_page_context
from crm.services.preview_queue import lead_and_rate, preview_event_enqueue
from crm.services.previews import EVENT_KINDS, hash_ip, is_bot_user_agent, preview_event_record

MAX_BODY_BYTES = 2048
NONCE_SALT = "preview-tracker"
NONCE_MAX_AGE = 7 * 24 * 3600


def tracking_nonce(token: str) -> str:
    """Signed into the page for its script: events without it did not come from the page."""
    return signing.dumps(token, salt=NONCE_SALT, compress=False)


def _nonce_ok(nonce, token: str) -> bool:
    if not isinstance(nonce, str) or len(nonce) > 200:
        return False
    try:
        return signing.loads(nonce, salt=NONCE_SALT, max_age=NONCE_MAX_AGE) == token
    except signing.BadSignature:
        return False


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


def _rate_key(token: str, ip: str) -> str:
    return f"trk:{token[:16]}:{hash_ip(ip)[:16]}:{int(time.time() // 60)}"


def _rate_limited(token: str, ip: str) -> bool:
    key = _rate_key(token, ip)
    if cache.add(key, 1, timeout=90):
        return False
    try:
        return cache.incr(key) > settings.TRACKING_EVENTS_PER_MINUTE
    except ValueError:
        return False


@csrf_exempt
@require_POST
@never_cache
def track(request: HttpRequest, token: str) -> HttpResponse:
    """Record one event from the page's script. JSON only, <= 2 KB, known types only."""
    if len(request.body) > MAX_BODY_BYTES:
        return _error(413, "payload too large")
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body must be JSON")
    if not isinstance(payload, dict):
        return _error(400, "body must be a JSON object")
    kind = payload.get("type")
    if kind not in EVENT_KINDS:
        return _error(400, "unknown event type")
    session_id = payload.get("session")
    if not isinstance(session_id, str) or not 8 <= len(session_id) <= 64:
        return _error(400, "session must be a string of 8-64 characters")
    seconds = payload.get("seconds", 0)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return _error(400, "seconds must be a number")
    target = payload.get("target", "")
    if not isinstance(target, str):
        return _error(400, "target must be a string")
    ip = request.META.get("REMOTE_ADDR", "")
    user_agent = request.META.get("HTTP_USER_AGENT", "")
    user = getattr(request, "user", None)
    counted = not (is_bot_user_agent(user_agent) or (user is not None and user.is_authenticated and user.is_staff)
                   or not _nonce_ok(payload.get("nonce"), token))
    limit = settings.TRACKING_EVENTS_PER_MINUTE
    if settings.REDIS_URL:
        # No database in the request: Redis answers for the token, the limit and the queue.
        if counted:
            outcome = preview_event_enqueue(token=token, rate_key=_rate_key(token, ip), limit=limit, kind=kind,
                                            session_id=session_id, seconds=int(seconds), target=target,
                                            user_agent=user_agent, ip=ip)
            if outcome == "unknown":
                raise Http404()
            if outcome == "limited":
                return _error(429, "too many events")
            return JsonResponse({"ok": True, "counted": True, "queued": True}, status=201)
        lead_id, count = lead_and_rate(token, _rate_key(token, ip))
        if lead_id is None:
            raise Http404()
        if count > limit:
            return _error(429, "too many events")
        return JsonResponse({"ok": True, "counted": False}, status=202)
    lead = lead_get_by_preview_token(token=token)
    if lead is None:
        raise Http404()
    if _rate_limited(token, ip):
        return _error(429, "too many events")
    if not counted:
        return JsonResponse({"ok": True, "counted": False}, status=202)
    recorded = preview_event_record(lead=lead, kind=kind, session_id=session_id, seconds=int(seconds),
                                    target=target, user_agent=user_agent, ip=ip)
    return JsonResponse({"ok": True, "counted": True, "hot": recorded.became_hot}, status=201)


