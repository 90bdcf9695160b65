"""Scheduled: Stripe events the webhook never received (our endpoint down, a network fault)
are read from Stripe's Events API and taken in as the webhook would have (a no-op without
Stripe keys)."""

from crm.services.billing.stripe_sync import stripe_events_sync


def stripe_sync_task() -> dict[str, int]:
    return stripe_events_sync()
