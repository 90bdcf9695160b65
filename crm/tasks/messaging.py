"""Scheduled texting work: the sequence dispatcher and the crash reconciler."""

from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.sending import messages_reconcile


def dispatch_due_task() -> dict:
    return dispatch_due().__dict__


def reconcile_sending_task() -> dict:
    return messages_reconcile()
