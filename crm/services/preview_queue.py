"""With Redis configured, tracking events skip the database in the request: they are queued
in Redis and written in batches by a worker task enqueued at once, which also applies the
hot-lead rule (well inside the two seconds an alert may take). Without Redis, the endpoint
writes synchronously (crm.services.previews.preview_event_record).

Delivery is at least once: events are trimmed from the queue only after their batch is
committed, so a crashed flush is redone rather than lost.
"""

import json
from datetime import timedelta
from collections import defaultdict
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from crm.models import CompanySettings, Lead, PreviewEvent
from crm.services.hot_leads import lead_mark_hot
from crm.services.previews import MAX_SECONDS, hash_ip

QUEUE_KEY = "crm:preview:events"
FLUSH_FLAG = "crm:preview:flush-scheduled"
FLUSH_LOCK = "crm:preview:flush-lock"
TOKEN_KEY = "crm:preview:token:"
BATCH = 2000


# One round trip each, with scripts registered once: redis-py's pipeline() and Django's cache
# build a fresh client (copying ~80 response callbacks) per call, which cost more than Redis.
_CHECK = """
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], 90) end
return {redis.call('GET', KEYS[1]), count}
"""
# Look the token up, count the event against the minute's limit and, when both allow, queue
# it: one round trip for a counted event. Returns {lead or false, count, 0 not queued /
# 1 queued / 2 queued and a flush must be scheduled}.
_TRACK = """
local lead = redis.call('GET', KEYS[1])
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], 90) end
if not lead or count > tonumber(ARGV[2]) then return {lead, count, 0} end
redis.call('RPUSH', KEYS[3], lead .. '|' .. ARGV[1])
if redis.call('SET', KEYS[4], '1', 'NX', 'EX', 5) then return {lead, count, 2} end
return {lead, count, 1}
"""


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    client = redis.Redis.from_url(url)
    return client, client.register_script(_CHECK), client.register_script(_TRACK)


def redis_client():
    return _client(settings.REDIS_URL)[0]


def lead_and_rate(token: str, rate_key: str) -> tuple[int | None, int]:
    """(the lead behind `token` or None, events counted under `rate_key` this minute)."""
    client, check, _ = _client(settings.REDIS_URL)
    cached, count = check(keys=[TOKEN_KEY + token, rate_key])
    if cached is not None:
        return int(cached), int(count)
    return _cache_token(token), int(count)



def _cache_token(token: str) -> int | None:
    lead_id = Lead.objects.filter(preview_token=token).values_list("pk", flat=True).first()
    if lead_id is not None:
        redis_client().set(TOKEN_KEY + token, lead_id, ex=3600)
    return lead_id


def preview_event_enqueue(*, token: str, rate_key: str, limit: int, kind: str, session_id: str,
                          seconds: int = 0, target: str = "", user_agent: str = "", ip: str = "") -> str:
    """Queue one counted event for the lead behind `token`: "queued", "limited" or "unknown"."""
    seconds = max(0, min(int(seconds or 0), MAX_SECONDS)) if kind in (PreviewEvent.Kind.PING,
                                                                     PreviewEvent.Kind.LEAVE) else 0
    item = json.dumps({"kind": kind, "session": session_id[:64], "seconds": seconds, "target": target[:64],
                       "ua": user_agent[:300], "ip": hash_ip(ip) if ip else ""})
    _, _, track = _client(settings.REDIS_URL)
    keys = [TOKEN_KEY + token, rate_key, QUEUE_KEY, FLUSH_FLAG]
    lead, count, state = track(keys=keys, args=[item, limit])
    if not lead:
        if count > limit:
            return "limited"
        if _cache_token(token) is None:
            return "unknown"
        lead, count, state = track(keys=keys, args=[item, limit])
    if state == 0:
        return "limited"
    if state == 2:
        _schedule_flush()
    return "queued"


def _schedule_flush() -> None:
    from django_q.tasks import async_task

    async_task("crm.tasks.previews.preview_events_flush_task", task_name="preview-events-flush")


def _write_batch(items: list[dict]) -> list[tuple[int, str]]:
    """Store a batch and update each lead's counters; returns (lead, kind) pairs to check."""
    leads = set(Lead.objects.filter(pk__in={i["lead"] for i in items}).values_list("pk", flat=True))
    items = [i for i in items if i["lead"] in leads]  # a lead deleted meanwhile
    PreviewEvent.objects.bulk_create([
        PreviewEvent(lead_id=i["lead"], kind=i["kind"], session_id=i["session"], seconds=i["seconds"],
                     target=i["target"], user_agent=i["ua"], ip_hash=i["ip"]) for i in items
    ])
    totals = defaultdict(lambda: {"views": 0, "clicks": 0, "seconds": 0})
    for i in items:
        total = totals[i["lead"]]
        total["views"] += i["kind"] == PreviewEvent.Kind.VIEW
        total["clicks"] += i["kind"] == PreviewEvent.Kind.CTA_CLICK
        total["seconds"] += i["seconds"]
    now = timezone.now()
    if connection.vendor == "postgresql" and totals:
        _add_counters_pg(totals, now)
    for lead_id, total in (totals.items() if connection.vendor != "postgresql" else ()):
        views = F("preview_views") + total["views"]
        clicks = F("preview_clicks") + total["clicks"]
        seconds = F("preview_seconds") + total["seconds"]
        Lead.objects.filter(pk=lead_id).update(
            preview_views=views, preview_clicks=clicks, preview_seconds=seconds, last_viewed_at=now,
            engagement_score=(views * 10 + clicks * 20 + F("inbound_messages") * 15 + seconds / 60.0 * 5) / 100.0,
        )
    viewed = [lead_id for lead_id, total in totals.items() if total["views"]]
    Lead.objects.filter(pk__in=viewed, status__in=[Lead.Status.NEW, Lead.Status.CONTACTED]).update(
        status=Lead.Status.ENGAGED)
    return [(i["lead"], i["kind"]) for i in items if i["kind"] in (PreviewEvent.Kind.VIEW, PreviewEvent.Kind.CTA_CLICK)]


def _add_counters_pg(totals: dict, now) -> None:
    """Every lead's counters and score in one UPDATE ... FROM (VALUES ...)."""
    rows = ", ".join(["(%s::bigint, %s::int, %s::int, %s::int)"] * len(totals))
    params = [now]
    for lead_id, total in totals.items():
        params += [lead_id, total["views"], total["clicks"], total["seconds"]]
    sql = f"""
        UPDATE crm_lead AS t SET
            preview_views = t.preview_views + v.views,
            preview_clicks = t.preview_clicks + v.clicks,
            preview_seconds = t.preview_seconds + v.seconds,
            last_viewed_at = %s,
            engagement_score = ((t.preview_views + v.views) * 10 + (t.preview_clicks + v.clicks) * 20
                                + t.inbound_messages * 15 + (t.preview_seconds + v.seconds) / 60.0 * 5) / 100.0
        FROM (VALUES {rows}) AS v(id, views, clicks, seconds)
        WHERE t.id = v.id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _check_hot(to_check: list[tuple[int, str]]) -> None:
    """The hot rule for a batch: one count query for every viewed lead, then only the few at
    the threshold go through lead_mark_hot (one alert per episode, as in the request path)."""
    company = CompanySettings.load()
    clicked = {lead_id for lead_id, kind in to_check if kind == PreviewEvent.Kind.CTA_CLICK}
    viewed = {lead_id for lead_id, kind in to_check if kind == PreviewEvent.Kind.VIEW}
    since = timezone.now() - timedelta(minutes=company.hot_lead_window_minutes)
    over = set(PreviewEvent.objects.filter(lead_id__in=viewed, kind=PreviewEvent.Kind.VIEW, created_at__gte=since)
               .values("lead_id").annotate(n=Count("pk")).filter(n__gte=company.hot_lead_views)
               .values_list("lead_id", flat=True))
    candidates = over | (clicked if company.hot_lead_on_cta_click else set())
    for lead in Lead.objects.filter(pk__in=candidates).exclude(priority=Lead.Priority.HOT).exclude(
            status=Lead.Status.PAID):
        lead_mark_hot(lead=lead, trigger="views" if lead.pk in over else "click", company=company)


def preview_events_flush() -> int:
    """Write every queued event in batches, then apply the hot rule. Returns events written."""
    client = redis_client()
    if not client.set(FLUSH_LOCK, 1, nx=True, ex=60):
        return 0  # another flush is running; it will see these events
    written = 0
    try:
        while True:
            raw = client.lrange(QUEUE_KEY, 0, BATCH - 1)
            if not raw:
                break
            items = []
            for entry in raw:
                lead_id, _, payload = entry.decode().partition("|")
                items.append({**json.loads(payload), "lead": int(lead_id)})
            with transaction.atomic():
                to_check = _write_batch(items)
            client.ltrim(QUEUE_KEY, len(raw), -1)
            written += len(raw)
            _check_hot(to_check)
    finally:
        client.delete(FLUSH_LOCK)
        client.delete(FLUSH_FLAG)
    # An event pushed after the last read but before the flag was cleared scheduled nothing.
    if client.llen(QUEUE_KEY) and client.set(FLUSH_FLAG, 1, nx=True, ex=5):
        _schedule_flush()
    return written
