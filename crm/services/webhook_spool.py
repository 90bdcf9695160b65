"""Twilio webhooks kept while the database was down (see integrations/webhook_spool.py): the
view stores them the same way here once the database answers, and the worker drains the spool
into the same store-then-process path, once per provider id."""

from datetime import timedelta

from django.db import IntegrityError, transaction

from crm.integrations.webhook_spool import webhook_spool_read, webhook_spool_trim
from crm.models import WebhookEvent
from crm.services.leases import lease_acquire, lease_release
from crm.services.webhooks import webhook_event_process

DRAIN_BATCH = 200


def twilio_event_store(*, source: str, event_id: str, object_id: str, event_type: str,
                       payload: dict) -> tuple[WebhookEvent, bool]:
    """The event row, created unless this (source, event_id) was stored before; two deliveries at
    the same moment store one row (the loser of the unique constraint reads the winner's)."""
    defaults = {"event_type": event_type, "payload": payload, "object_id": object_id[:100]}
    try:
        with transaction.atomic():
            return WebhookEvent.objects.get_or_create(source=source, event_id=event_id, defaults=defaults)
    except IntegrityError:
        return WebhookEvent.objects.get(source=source, event_id=event_id), False


def twilio_spool_item(*, source: str, event_id: str, object_id: str, event_type: str, payload: dict) -> dict:
    return {"source": source, "event_id": event_id, "object_id": object_id, "event_type": event_type,
            "payload": payload}


def webhook_spool_drain(*, batch: int = DRAIN_BATCH) -> dict:
    """Store and process what the spool holds, a batch at a time; the items are trimmed only after
    they are stored, and one drainer runs at a time (a lease), so nothing is lost or taken twice."""
    lease = lease_acquire(names=["webhook-spool"], ttl=timedelta(minutes=5))
    if lease is None:
        return {"busy": True, "stored": 0, "processed": 0}
    stored = processed = 0
    try:
        while items := webhook_spool_read(count=batch):
            events = [twilio_event_store(**item)[0] for item in items]
            webhook_spool_trim(count=len(items))
            stored += len(events)
            for event in events:
                if event.processed_at is None:
                    processed += webhook_event_process(event=event)[0]
    finally:
        lease_release(name=lease[0], holder=lease[1])
    return {"busy": False, "stored": stored, "processed": processed}
