"""The sender: sends queued texts as their slots come, each through `message_send` (one committed
outcome per text), a few at once on threads, so a kill at any instant leaves at most one text
per thread in flight.

It runs inside a time budget far below the task timeout and only naps for fractions of a
second between slots; when the budget ends with work left, its task starts a successor. At
most SMS_SENDERS senders run at once (a lease each, renewed every two seconds and freed by
expiry ten seconds after a killed worker's last renewal). A sender that finds every lease held
waits for one whose holder stopped renewing, and a sender that finds a lease free while texts
are due starts another, so a restarted worker is back to full speed in seconds.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone

from crm.integrations.sms import get_sms_backend
from crm.models import CompanySettings, Message
from crm.services.enrollments import StepBook
from crm.enqueue import sms_sender_start
from crm.services.leases import lease_acquire, lease_any_free, lease_release, lease_renew, lease_stale_wait
from crm.services.messaging.sendrows import message_claim_next
from crm.services.messaging.sending import message_send

LEASE_TTL = timedelta(seconds=10)
# Longest nap between two slots; with nothing due within IDLE_EXIT, the sender stops.
MAX_NAP = 0.25
IDLE_EXIT = 5.0
REFRESH_EVERY = 2.0  # seconds between lease renewals and company settings reloads


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


def next_slot_due_now() -> bool:
    return Message.objects.filter(status=Message.Status.QUEUED, send_at__lte=timezone.now()).exists()


def _lease_take(names: list[str], budget_seconds: float, sleep, clock) -> tuple[str, str] | None:
    """A sender lease; when all are held, wait (within the budget) for one whose holder stopped
    renewing it, e.g. a sender in a killed worker, rather than leave the texts until the next
    scheduled start."""
    deadline = clock() + budget_seconds
    while True:
        lease = lease_acquire(names=names, ttl=LEASE_TTL)
        if lease is not None or budget_seconds <= 0:
            return lease
        wait = lease_stale_wait(names=names, ttl=LEASE_TTL, renewed_every=timedelta(seconds=REFRESH_EVERY))
        if wait is None or clock() + wait >= deadline:
            return None
        sleep(wait + 0.05)


def next_slot_due() -> "timezone.datetime | None":
    return (Message.objects.filter(status=Message.Status.QUEUED).order_by("send_at", "id")
            .values_list("send_at", flat=True).first())


class _Run:
    """What the threads of one sender share: its lease, budget, settings and counts."""

    def __init__(self, *, name, holder, budget_seconds, backend, idle_exit, sleep, clock):
        self.name, self.holder, self.budget_seconds = name, holder, budget_seconds
        self.backend, self.idle_exit, self.sleep, self.clock = backend, idle_exit, sleep, clock
        self.deadline = clock() + budget_seconds
        self.company, self.steps = CompanySettings.load(), StepBook()
        self.refreshed = clock()
        self.stats = SenderStats()
        self.lock = threading.Lock()
        self.stop = False

    def refresh(self) -> None:
        with self.lock:
            if self.clock() - self.refreshed <= REFRESH_EVERY:
                return
            self.refreshed = self.clock()
            if not lease_renew(name=self.name, holder=self.holder, ttl=LEASE_TTL):
                self.stop = True  # the lease expired and another sender has it now
            self.company, self.steps = CompanySettings.load(), StepBook()

    def count(self, outcome: str) -> None:
        with self.lock:
            self.stats.count(outcome)

    def more(self) -> None:
        with self.lock:
            self.stats.more, self.stop = True, True


def _send_loop(run: _Run) -> None:
    while not run.stop:
        run.refresh()
        now = timezone.now()
        claimed = message_claim_next(now=now)
        if claimed is not None:
            run.count(message_send(claimed=claimed, backend=run.backend, company=run.company, steps=run.steps,
                                   now=now))
            if run.budget_seconds > 0 and run.clock() >= run.deadline:
                run.more()
            continue
        upcoming = next_slot_due()
        if upcoming is None:
            return
        wait = (upcoming - timezone.now()).total_seconds()
        if wait > run.idle_exit:
            return
        if run.clock() + max(wait, 0.0) >= run.deadline:
            run.more()
            return
        run.sleep(min(max(wait, 0.0), MAX_NAP))


def _threaded(run: _Run, threads: int) -> None:
    def one() -> None:
        try:
            _send_loop(run)
        finally:
            connections.close_all()  # each thread's own connection

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sms-sender") as pool:
        for future in [pool.submit(one) for _ in range(threads)]:
            future.result()


def messages_send_due(*, budget_seconds: float, backend=None, idle_exit: float = IDLE_EXIT,
                      sleep=time.sleep, clock=time.monotonic, threads: int | None = None) -> SenderStats:
    """Send texts as their slots come for up to `budget_seconds` (0: send what is due now, never
    wait), with `threads` sends in flight at once (SMS_SENDER_THREADS). Each send commits its
    own outcome, so a kill leaves at most one text per thread to reconcile."""
    names = [f"sms-sender-{i}" for i in range(max(1, settings.SMS_SENDERS))]
    lease = _lease_take(names, budget_seconds, sleep, clock)
    if lease is None:
        return SenderStats(busy=True)
    name, holder = lease
    if budget_seconds > 0 and lease_any_free(names=names) and next_slot_due_now():
        sms_sender_start()  # a backlog and room for another sender (after a kill, or the scheduled one)
    run = _Run(name=name, holder=holder, budget_seconds=budget_seconds, backend=backend or get_sms_backend(),
               idle_exit=idle_exit, sleep=sleep, clock=clock)
    threads = max(1, settings.SMS_SENDER_THREADS if threads is None else threads)
    try:
        if threads == 1:
            _send_loop(run)
        else:
            _threaded(run, threads)
    finally:
        lease_release(name=name, holder=holder)
    return run.stats
