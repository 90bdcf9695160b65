"""Two dispatchers over the same due enrolments send each step exactly once; a dispatcher
killed between claim and send causes no duplicate. Real concurrency needs PostgreSQL
(row locks, SKIP LOCKED); on SQLite, whose writers are serialised anyway, the same
scenario runs one dispatcher after the other."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from crm.models import Message
from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.sending import messages_reconcile
from tests.crm.services.messaging.support import (
    NOON_CHICAGO,
    RecordingBackend,
    WorkerKilled,
    enroll,
    sequence_with_steps,
    texting_lead,
)

pytestmark = pytest.mark.django_db(transaction=True)


class ThreadSafeBackend(RecordingBackend):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lock = threading.Lock()

    def send(self, **kwargs):
        with self.lock:
            return super().send(**kwargs)


def run_together(*jobs):
    if connection.vendor != "postgresql":
        for job in jobs:
            try:
                job()
            except WorkerKilled:
                pass
        return
    barrier = threading.Barrier(len(jobs))
    results, errors = [None] * len(jobs), []

    def runner(i, job):
        try:
            barrier.wait()
            results[i] = job()
        except BaseException as exc:  # noqa: BLE001 - a killed dispatcher is part of the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_two_dispatchers_send_each_step_exactly_once():
    sequence, steps = sequence_with_steps(0, 2)
    leads = [texting_lead() for _ in range(60)]
    for lead in leads:
        enroll(lead, sequence, steps, NOON_CHICAGO - timedelta(minutes=1))
    backend = ThreadSafeBackend()
    run_together(lambda: dispatch_due(now=NOON_CHICAGO, batch_size=7, backend=backend),
                 lambda: dispatch_due(now=NOON_CHICAGO, batch_size=7, backend=backend))
    sent_to = Counter(s["to"] for s in backend.sent)
    assert len(backend.sent) == 60 and set(sent_to.values()) == {1}
    assert Message.objects.filter(direction="out").count() == 60
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_a_dispatcher_killed_between_claim_and_send_causes_no_duplicate():
    sequence, steps = sequence_with_steps(0, 2)
    for _ in range(20):
        enroll(texting_lead(), sequence, steps, NOON_CHICAGO - timedelta(minutes=1))
    survivor = ThreadSafeBackend()
    killed = ThreadSafeBackend(crash=True)
    run_together(lambda: dispatch_due(now=NOON_CHICAGO, batch_size=5, backend=killed),
                 lambda: dispatch_due(now=NOON_CHICAGO, batch_size=5, backend=survivor))
    # Whatever the killed one claimed is "sending"; nothing claims it again.
    stuck = Message.objects.filter(status="sending").count()
    dispatch_due(now=NOON_CHICAGO, backend=survivor)
    reconciled = messages_reconcile(older_than=timedelta(minutes=5), backend=survivor,
                                    now=timezone.now() + timedelta(minutes=10))
    assert reconciled == {"adopted": 0, "failed": stuck}
    assert len(survivor.sent) == 20 - stuck
    assert Counter(s["to"] for s in survivor.sent).most_common(1)[0][1] == 1
    assert Message.objects.filter(direction="out").count() == 20
