"""Texting work for the worker: plan due sequence steps, send queued texts, settle texts a
crash left in flight, retry webhook events."""

from django.conf import settings

from crm.enqueue import sms_sender_start
from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.sender import messages_send_due
from crm.services.messaging.sending import messages_reconcile
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
