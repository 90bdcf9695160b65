"""The django-q2 schedules the product needs, created or corrected idempotently."""

from django_q.models import Schedule

# name -> (function, minutes between runs)
SCHEDULES: dict[str, tuple[str, int]] = {
    "hot-leads-sweep": ("crm.tasks.previews.hot_leads_sweep_task", 1),
    "sms-dispatch": ("crm.tasks.messaging.dispatch_due_task", 1),
    # Restarts the sender if none runs (a killed worker); senders also start when texts are queued.
    "sms-send": ("crm.tasks.messaging.sms_sender_task", 1),
    "sms-reconcile": ("crm.tasks.messaging.reconcile_sending_task", 1),
    "webhook-retry": ("crm.tasks.messaging.webhook_events_retry_task", 1),
    # Twilio webhooks spooled in Redis while the database was down (crm/integrations/webhook_spool.py).
    "webhook-spool": ("crm.tasks.messaging.webhook_spool_drain_task", 1),
    "api-idempotency-purge": ("crm.tasks.api.api_idempotency_purge_task", 60),  # keys past API_IDEMPOTENCY_HOURS
    "dashboard-rollups": ("crm.tasks.rollups.rollups_refresh_task", 1),  # the dashboard's pre-counted activity
    "stripe-sync": ("crm.tasks.billing.stripe_sync_task", 60),  # Stripe events the webhook never received
}


def schedules_sync() -> dict[str, str]:
    """Make every schedule in SCHEDULES exist with the right function and interval.

    Returns what happened to each: created, updated or unchanged. Running it twice changes nothing.
    """
    outcome = {}
    for name, (func, minutes) in SCHEDULES.items():
        schedule = Schedule.objects.filter(name=name).first()
        if schedule is None:
            Schedule.objects.create(name=name, func=func, schedule_type=Schedule.MINUTES, minutes=minutes,
                                    repeats=-1)
            outcome[name] = "created"
        elif (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) != (
                func, Schedule.MINUTES, minutes, -1):
            schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats = func, Schedule.MINUTES, minutes, -1
            schedule.save()
            outcome[name] = "updated"
        else:
            outcome[name] = "unchanged"
    return outcome


def schedules_missing() -> list[str]:
    present = set(Schedule.objects.filter(name__in=SCHEDULES).values_list("name", flat=True))
    return [name for name in SCHEDULES if name not in present]
