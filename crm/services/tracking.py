"""The public tracking endpoint's rules: what a valid event is, which events count (not bots,
not staff, only what the page's own script sent), how many one address and one link may send
a minute, and where a counted event goes (the Redis queue when configured, else the database
in the request). The view only reads the request and answers with what this returns.
"""

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.core.cache import cache

from crm.enqueue import preview_events_flush_start
from crm.integrations.tracking_queue import tracking_count_and_queue, tracking_token_remember
from crm.selectors.leads import lead_get_by_preview_token, lead_id_by_preview_token
from crm.services.preview_queue import preview_event_item
from crm.services.previews import EVENT_KINDS, hash_ip, is_bot_user_agent, preview_event_record

NONCE_SALT = "preview-tracker"
NONCE_MAX_AGE = 7 * 24 * 3600
# A number of seconds beyond this is no measurement: refused, not clamped.
SECONDS_LIMIT = 10_000_000
UNKNOWN_TOKEN_SECONDS = 300  # how long "no lead has this token" is remembered without Redis
# The bot rule is one long regular expression (~0.08 ms a user agent, a tenth of a tracking
# request's CPU), and a visitor's page sends many events with the same user agent: answers are
# remembered for the user agents of ordinary length (at most ~1 MB per process).
_is_bot_remembered = lru_cache(maxsize=2048)(is_bot_user_agent)
REMEMBERED_USER_AGENT_LENGTH = 512


def _is_bot(user_agent: str) -> bool:
    if len(user_agent) > REMEMBERED_USER_AGENT_LENGTH:
        return is_bot_user_agent(user_agent)
    return _is_bot_remembered(user_agent)


@dataclass
class TrackResult:
    status: int
    body: dict = field(default_factory=dict)


def _refused(status: int, message: str) -> TrackResult:
    return TrackResult(status, {"ok": False, "error": message})


def tracking_nonce(token: str) -> str:
    """Signed into the page for its script: events without it did not come from the page."""
    return signing.dumps(token, salt=NONCE_SALT, compress=False)


def tracking_nonce_valid(nonce, token: str) -> bool:
    if not isinstance(nonce, str) or len(nonce) > 200:
        return False
    try:
        return signing.loads(nonce, salt=NONCE_SALT, max_age=NONCE_MAX_AGE) == token
    except signing.BadSignature:
        return False


def event_problem(payload) -> str:
    """Why `payload` is not a valid tracking event ("" when it is)."""
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    if payload.get("type") not in EVENT_KINDS:
        return "unknown event type"
    session_id = payload.get("session")
    if not isinstance(session_id, str) or not 8 <= len(session_id) <= 64:
        return "session must be a string of 8-64 characters"
    seconds = payload.get("seconds", 0)
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return "seconds must be a number"
    if not math.isfinite(seconds) or abs(seconds) > SECONDS_LIMIT:
        return "seconds must be a finite number of seconds"
    if not isinstance(payload.get("target", ""), str):
        return "target must be a string"
    return ""


def _keys(token: str, ip: str) -> tuple[str, str]:
    minute = int(time.time() // 60)
    address = hash_ip(ip)[:16]
    return f"trk:a:{address}:{minute}", f"trk:{token[:16]}:{address}:{minute}"


def _counted_now(key: str) -> int:
    """One more event under `key` this minute (the cache: per process without Redis)."""
    if cache.add(key, 1, timeout=90):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, timeout=90)
        return 1


def preview_track(*, token: str, payload, ip: str, user_agent: str, staff: bool) -> TrackResult:
    """Validate, count against the limits, and record (or queue) one event for `token`'s lead.
    An address over its limit is refused before the token is looked up; an unknown token is a
    404 that says nothing more."""
    problem = event_problem(payload)
    if problem:
        return _refused(400, problem)
    counted = not (staff or _is_bot(user_agent) or not tracking_nonce_valid(payload.get("nonce"), token))
    event = {"kind": payload["type"], "session_id": payload["session"], "seconds": int(payload.get("seconds", 0)),
             "target": payload.get("target", ""), "user_agent": user_agent, "ip": ip}
    if settings.REDIS_URL:
        return _track_queued(token, ip, event, counted)
    return _track_now(token, ip, event, counted)


def _track_queued(token: str, ip: str, event: dict, counted: bool) -> TrackResult:
    """Redis answers for the limits, the token and the queue: no database in the request."""
    address_key, link_key = _keys(token, ip)
    item = preview_event_item(**event) if counted else ""
    lead, address_count, link_count, state = tracking_count_and_queue(
        address_key=address_key, link_key=link_key, token=token, item=item,
        link_limit=settings.TRACKING_EVENTS_PER_MINUTE, address_limit=settings.TRACKING_EVENTS_PER_ADDRESS)
    if address_count > settings.TRACKING_EVENTS_PER_ADDRESS:
        return _refused(429, "too many events")
    if lead is None:  # not looked up within the hour: once, then remembered either way
        lead_id = lead_id_by_preview_token(token=token)
        queue = lead_id is not None and counted and link_count <= settings.TRACKING_EVENTS_PER_MINUTE
        state = tracking_token_remember(token=token, lead_id=lead_id, item=item if queue else "")
        lead = "-" if lead_id is None else str(lead_id)
    if lead == "-":
        return _refused(404, "not found")
    if link_count > settings.TRACKING_EVENTS_PER_MINUTE:
        return _refused(429, "too many events")
    if not counted:
        return TrackResult(202, {"ok": True, "counted": False})
    if state == 2:
        preview_events_flush_start()
    return TrackResult(201, {"ok": True, "counted": True, "queued": True})


def _track_now(token: str, ip: str, event: dict, counted: bool) -> TrackResult:
    """Without Redis: written in the request, and the hot rule applied at once."""
    address_key, link_key = _keys(token, ip)
    if _counted_now(address_key) > settings.TRACKING_EVENTS_PER_ADDRESS:
        return _refused(429, "too many events")
    unknown_key = f"trk:unknown:{token[:64]}"
    if cache.get(unknown_key):
        return _refused(404, "not found")
    lead = lead_get_by_preview_token(token=token)
    if lead is None:
        cache.set(unknown_key, 1, timeout=UNKNOWN_TOKEN_SECONDS)
        return _refused(404, "not found")
    if _counted_now(link_key) > settings.TRACKING_EVENTS_PER_MINUTE:
        return _refused(429, "too many events")
    if not counted:
        return TrackResult(202, {"ok": True, "counted": False})
    recorded = preview_event_record(lead=lead, **event)
    return TrackResult(201, {"ok": True, "counted": True, "hot": recorded.became_hot})
