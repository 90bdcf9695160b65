"""Timeline writes: every step of a lead's life leaves one event."""

from crm.models import TimelineEvent


def timeline_record_many(*, leads, kind: str, actor=None, data: dict | None = None) -> int:
    """Append the same event to many leads in one query."""
    events = [TimelineEvent(lead=lead, kind=kind, actor=actor, data=data or {}) for lead in leads]
    TimelineEvent.objects.bulk_create(events, batch_size=1000)
    return len(events)
