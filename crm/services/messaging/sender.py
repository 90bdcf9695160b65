"""The sender: sends queued texts as their slots come, one `message_send` (one committed outcome)
at a time, so a kill at any instant leaves at most the one text in flight.

It runs inside a time budget far below the task timeout and only naps for fractions of a
second between slots; when the budget ends with work left, its task starts a successor. At
most SMS_SENDERS senders run at once (a lease each, freed by expiry if a worker is killed).
"""

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from crm.integrations.sms import get_sms_backend
from crm.models import CompanySettings, Message
from crm.services.leases import lease_acquire, lease_release, lease_renew
from crm.services.messaging.sending import message_send

LEASE_TTL = timedelta(seconds=30)
# Longest nap between two slots; with nothing due within IDLE_EXIT, the sender stops.
MAX_NAP = 0.25
IDLE_EXIT = 5.0
REFRESH_EVERY = 5.0  # seconds between lease renewals and company settings reloads


@dataclass
class SenderStats:
    sent: int = 0
    failed: int = 0
    canceled: int = 0
    requeued: int = 0
    unknown: int = 0
    taken: int = 0
    busy: bool = False  # every sender lease was held: another sender is at work
    more: bool = False  # the budget ended with texts due: start another sender

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def message_claim_next(*, now) -> int | None:
    """Claim the next queued text whose slot has come (queued -> sending, one statement, committed)."""
    table = connection.ops.quote_name(Message._meta.db_table)
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, claimed_at = %s WHERE id = ("
            f"SELECT id FROM {table} WHERE status = %s AND send_at <= %s ORDER BY send_at, id LIMIT 1{skip_locked}"
            f") AND status = %s RETURNING id",
            [Message.Status.SENDING, at, Message.Status.QUEUED, at, Message.Status.QUEUED])
        row = cursor.fetchone()
    return row[0] if row else None


def next_slot_due() -> "timezone.datetime | None":
    return (Message.objects.filter(status=Message.Status.QUEUED).order_by("send_at", "id")
            .values_list("send_at", flat=True).first())


def messages_send_due(*, budget_seconds: float, backend=None, idle_exit: float = IDLE_EXIT,
                      sleep=time.sleep, clock=time.monotonic) -> SenderStats:
    """Send texts as their slots come for up to `budget_seconds` (0: send what is due now, never
    wait). Each send commits its own outcome."""
    stats = SenderStats()
    lease = lease_acquire(names=[f"sms-sender-{i}" for i in range(max(1, settings.SMS_SENDERS))], ttl=LEASE_TTL)
    if lease is None:
        stats.busy = True
        return stats
    name, holder = lease
    backend = backend or get_sms_backend()
    company = CompanySettings.load()
    deadline = clock() + budget_seconds
    refreshed = clock()
    try:
        while True:
            if clock() - refreshed > REFRESH_EVERY:
                if not lease_renew(name=name, holder=holder, ttl=LEASE_TTL):
                    break
                company, refreshed = CompanySettings.load(), clock()
            now = timezone.now()
            message_id = message_claim_next(now=now)
            if message_id is not None:
                stats.count(message_send(message_id=message_id, backend=backend, company=company, claimed=True,
                                         now=now))
                if budget_seconds > 0 and clock() >= deadline:
                    stats.more = True
                    break
                continue
            upcoming = next_slot_due()
            if upcoming is None:
                break
            wait = (upcoming - timezone.now()).total_seconds()
            if wait > idle_exit:
                break
            if clock() + max(wait, 0.0) >= deadline:
                stats.more = True
                break
            sleep(min(max(wait, 0.0), MAX_NAP))
    finally:
        lease_release(name=name, holder=holder)
    return stats
