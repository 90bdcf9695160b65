"""Scheduled: the hot-lead safety net."""

from crm.services.hot_leads import hot_leads_sweep


def hot_leads_sweep_task() -> dict:
    from django.conf import settings

    flushed = 0
    if settings.REDIS_URL:  # the safety net also drains queued tracking events
        from crm.services.preview_queue import preview_events_flush

        flushed = preview_events_flush()
    return {**hot_leads_sweep(), "flushed": flushed}


def preview_events_flush_task() -> int:
    from crm.services.preview_queue import preview_events_flush

    return preview_events_flush()
