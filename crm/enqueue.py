"""Starting background work. Services call these (after their transaction commits); each names
its task by dotted path, so this module imports no services and no tasks."""

from django.db import transaction
from django_q.tasks import async_task


def sms_sender_start() -> None:
    """Start a sender once the current transaction commits (a no-op if enough already run)."""
    transaction.on_commit(lambda: async_task("crm.tasks.messaging.sms_sender_task", task_name="sms-sender"))
