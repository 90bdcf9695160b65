"""Scheduled: expired API idempotency keys are deleted."""

from crm.services.api_idempotency import idempotency_keys_purge


def api_idempotency_purge_task() -> int:
    return idempotency_keys_purge()
