"""With Redis configured, tracking events skip the database in the request: they are queued
in Redis and written in batches by a worker task enqueued at once, which also applies the
hot-lead rule (well inside the two seconds an alert may take). Without Redis, the endpoint
writes synchronously (crm.services.previews.preview_event_record).

Delivery is at least once: events are trimmed from the queue only after their batch is
committed, so a crashed flush is redone rather than lost.
"""

import json
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from crm.enqueue import preview_events_flush_start
from crm.integrations.tracking_queue import (
    tracking_flush_flag,
    tracking_flush_lock,
    tracking_flush_unlock,
    tracking_queue_length,
    tracking_queue_read,
    tracking_queue_trim,
)
from crm.models import Lead, PreviewEvent
from crm.services.engagement import engagement_score
from crm.services.hot_leads import hot_leads_mark
from crm.services.previews import MAX_SECONDS, hash_ip

BATCH = 2000


def preview_event_item(*, kind: str, session_id: str, seconds: int = 0, target: str = "", user_agent: str = "",
                       ip: str = "") -> str:
    """One counted event as the queue keeps it (the same clamps as the synchronous path)."""
    seconds = max(0, min(int(seconds or 0), MAX_SECONDS)) if kind in (PreviewEvent.Kind.PING,
                                                                     PreviewEvent.Kind.LEAVE) else 0
    return json.dumps({"kind": kind, "session": session_id[:64], "seconds": seconds, "target": target[:64],
                       "ua": user_agent[:300], "ip": hash_ip(ip) if ip else ""})


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
        Lead.objects.filter(pk__in=list(totals)).update(engagement_score=engagement_score())
    for lead_id, total in (totals.items() if connection.vendor != "postgresql" else ()):
        views = F("preview_views") + total["views"]
        clicks = F("preview_clicks") + total["clicks"]
        seconds = F("preview_seconds") + total["seconds"]
        Lead.objects.filter(pk=lead_id).update(
            preview_views=views, preview_clicks=clicks, preview_seconds=seconds, last_viewed_at=now,
            engagement_score=engagement_score(views=views, clicks=clicks, seconds=seconds),
        )
    viewed = [lead_id for lead_id, total in totals.items() if total["views"]]
    Lead.objects.filter(pk__in=viewed, status__in=[Lead.Status.NEW, Lead.Status.CONTACTED]).update(
        status=Lead.Status.ENGAGED)
    return [(i["lead"], i["kind"]) for i in items if i["kind"] in (PreviewEvent.Kind.VIEW, PreviewEvent.Kind.CTA_CLICK)]


def _add_counters_pg(totals: dict, now) -> None:
    """Every lead's counters in one UPDATE ... FROM (VALUES ...) (the score follows from them)."""
    rows = ", ".join(["(%s::bigint, %s::int, %s::int, %s::int)"] * len(totals))
    params = [now]
    for lead_id, total in totals.items():
        params += [lead_id, total["views"], total["clicks"], total["seconds"]]
    sql = f"""
        UPDATE crm_lead AS t SET
            preview_views = t.preview_views + v.views,
            preview_clicks = t.preview_clicks + v.clicks,
            preview_seconds = t.preview_seconds + v.seconds,
            last_viewed_at = %s
        FROM (VALUES {rows}) AS v(id, views, clicks, seconds)
        WHERE t.id = v.id"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def preview_events_flush() -> int:
    """Write every queued event in batches, then apply the hot rule. Returns events written."""
    if not tracking_flush_lock():
        return 0  # another flush is running; it will see these events
    written = 0
    try:
        while True:
            raw = tracking_queue_read(count=BATCH)
            if not raw:
                break
            items = []
            for entry in raw:
                lead_id, _, payload = entry.decode().partition("|")
                items.append({**json.loads(payload), "lead": int(lead_id)})
            with transaction.atomic():
                to_check = _write_batch(items)
            tracking_queue_trim(count=len(raw))
            written += len(raw)
            hot_leads_mark(lead_ids={lead_id for lead_id, kind in to_check if kind == PreviewEvent.Kind.VIEW},
                           clicked={lead_id for lead_id, kind in to_check if kind == PreviewEvent.Kind.CTA_CLICK})
    finally:
        tracking_flush_unlock()
    # An event pushed after the last read but before the flag was cleared scheduled nothing.
    if tracking_queue_length() and tracking_flush_flag():
        preview_events_flush_start()
    return written
