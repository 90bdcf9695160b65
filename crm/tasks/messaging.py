"""Texting work for the worker: plan due sequence steps, send queued texts, settle texts a
crash left in flight, retry webhook events."""

import logging

from django.conf import settings
from django.db import DatabaseError

from crm.enqueue import sms_sender_start
from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.sender import messages_send_due, next_slot_due
from crm.services.messaging.sending import messages_reconcile
from crm.services.webhook_spool import webhook_spool_drain
from crm.services.webhooks import webhook_events_retry


def dispatch_due_task() -> dict:
    return dispatch_due().__dict__


def sms_sender_task() -> dict:
    stats = messages_send_due(budget_seconds=settings.SMS_SENDER_BUDGET_SECONDS)
    if stats.more:
        sms_sender_start()
    return stats.__dict__


def reconcile_sending_task() -> dict:
    return messages_reconcile()


def webhook_events_retry_task() -> dict:
    return webhook_events_retry()


def webhook_spool_drain_task() -> dict:
    return webhook_spool_drain()


def sender_on_worker_spawn(**kwargs) -> None:
    """django-q2's post_spawn: a worker (re)started, e.g. after a kill. Texts waiting start a
    sender now rather than at the scheduler's next turn (30-60 s later)."""
    try:
        if next_slot_due() is not None:
            sms_sender_start()
    except DatabaseError:
        logging.getLogger(__name__).warning("sender not started at worker spawn: database unavailable")
