"""With Redis configured, tracking events skip the database in the request: they are queued
in Redis and written in batches by a worker task enqueued at once, which also applies the
hot-lead rule (well inside the two seconds an alert may take). Without Redis, the endpoint
writes synchronously (crm.services.previews.preview_event_record).

Delivery is at least once: events are trimmed from the queue only after their batch is
committed, so a crashed flush is redone rather than lost.
"""

import json
import time
from collections import defaultdict
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import CompanySettings, Lead, PreviewEvent
from crm.services.hot_leads import lead_check_hot
from crm.services.previews import MAX_SECONDS, hash_ip

QUEUE_KEY = "crm:preview:events"
FLUSH_FLAG = "crm:preview:flush-scheduled"
FLUSH_LOCK = "crm:preview:flush-lock"
TOKEN_KEY = "crm:preview:token:"
BATCH = 2000


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    return redis.Redis.from_url(url)


def redis_client():
    return _client(settings.REDIS_URL)


def lead_id_for_token(token: str) -> int | None:
    """The lead behind a preview token, cached in Redis for an hour (None: no such lead)."""
    client = redis_client()
    cached = client.get(TOKEN_KEY + token)
    if cached is not None:
        return int(cached)
    lead_id = Lead.objects.filter(preview_token=token).values_list("pk", flat=True).first()
    if lead_id is not None:
        client.set(TOKEN_KEY + token, lead_id, ex=3600)
    return lead_id


def preview_event_enqueue(*, lead_id: int, kind: str, session_id: str, seconds: int = 0, target: str = "",
                          user_agent: str = "", ip: str = "") -> None:
    """Queue one counted event and make sure a flush task is on its way."""
    seconds = max(0, min(int(seconds or 0), MAX_SECONDS)) if kind in (PreviewEvent.Kind.PING,
                                                                     PreviewEvent.Kind.LEAVE) else 0
    item = json.dumps({"lead": lead_id, "kind": kind, "session": session_id[:64], "seconds": seconds,
                       "target": target[:64], "ua": user_agent[:300], "ip": hash_ip(ip) if ip else "",
                       "at": time.time()})
    pipe = redis_client().pipeline()
    pipe.rpush(QUEUE_KEY, item)
    pipe.set(FLUSH_FLAG, 1, nx=True, ex=5)
    _, scheduled = pipe.execute()
    if scheduled:
        _schedule_flush()


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
    for lead_id, total in totals.items():
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
            items = [json.loads(r) for r in raw]
            with transaction.atomic():
                to_check = _write_batch(items)
            client.ltrim(QUEUE_KEY, len(raw), -1)
            written += len(raw)
            company = CompanySettings.load()
            seen = set()
            for lead_id, kind in to_check:
                if (lead_id, kind) in seen:
                    continue
                seen.add((lead_id, kind))
                lead = Lead.objects.filter(pk=lead_id).first()
                if lead is not None:
                    lead_check_hot(lead=lead, kind=kind, company=company)
    finally:
        client.delete(FLUSH_LOCK)
        client.delete(FLUSH_FLAG)
    # An event pushed after the last read but before the flag was cleared scheduled nothing.
    if client.llen(QUEUE_KEY) and client.set(FLUSH_FLAG, 1, nx=True, ex=5):
        _schedule_flush()
    return written
