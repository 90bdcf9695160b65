"""Two dispatchers and two senders over the same due enrolments send each step exactly once; a
sender killed mid-send leaves one text to reconcile. Real concurrency needs PostgreSQL (row
locks, SKIP LOCKED); on SQLite, whose writers are serialised anyway, the same scenario runs
one job after the other. (bench/chaos_sms.py does this with real worker processes and kills.)"""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from crm.models import Enrollment, Message
from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.sender import messages_send_due
from crm.services.messaging.sending import messages_reconcile
from tests.crm.services.messaging.support import (
    NOON_CHICAGO,
    RecordingBackend,
    WorkerKilled,
    at,
    enroll,
    sequence_with_steps,
    texting_lead,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def senders_started_by_the_test(monkeypatch):
    """Tasks run synchronously in tests: the dispatcher's own sender would send before ours run."""
    monkeypatch.setattr("crm.services.messaging.dispatch.sms_sender_start", lambda: None)


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
    errors = []

    def runner(job):
        try:
            barrier.wait()
            job()
        except WorkerKilled:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []


@override_settings(SMS_SENDERS=2)
def test_two_dispatchers_and_two_senders_send_each_step_exactly_once():
    sequence, steps = sequence_with_steps(0, 2)
    with at(NOON_CHICAGO, tick=True):
        for _ in range(60):
            enroll(texting_lead(), sequence, steps, timezone.now() - timedelta(minutes=1))
        backend = ThreadSafeBackend()
        run_together(lambda: dispatch_due(batch_size=7), lambda: dispatch_due(batch_size=7))
        threads = 3 if connection.vendor == "postgresql" else 1  # each thread its own connection
        run_together(lambda: messages_send_due(budget_seconds=0, backend=backend, threads=threads),
                     lambda: messages_send_due(budget_seconds=0, backend=backend, threads=threads))
    sent_to = Counter(s["to"] for s in backend.sent)
    assert len(backend.sent) == 60 and set(sent_to.values()) == {1}
    assert Message.objects.filter(direction="out").count() == 60
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert set(Enrollment.objects.values_list("next_step", flat=True)) == {steps[1].pk}


@override_settings(SMS_SENDERS=2)
def test_a_sender_killed_mid_send_leaves_one_text_to_reconcile_and_causes_no_duplicate():
    sequence, steps = sequence_with_steps(0, 2)
    with at(NOON_CHICAGO, tick=True):
        for _ in range(20):
            enroll(texting_lead(), sequence, steps, timezone.now() - timedelta(minutes=1))
        dispatch_due()
        survivor = ThreadSafeBackend()
        run_together(lambda: messages_send_due(budget_seconds=0, backend=ThreadSafeBackend(crash=True)),
                     lambda: messages_send_due(budget_seconds=0, backend=survivor))
        # The killed sender had one text in flight; nothing else of its claim is stuck.
        assert Message.objects.filter(status="sending").count() == 1
        assert Message.objects.filter(status="queued").count() == 0
        with at(timezone.now() + timedelta(minutes=10)):
            reconciled = messages_reconcile(backend=survivor)
    assert reconciled == {"adopted": 0, "failed": 1}
    assert len(survivor.sent) == 19
    assert Counter(s["to"] for s in survivor.sent).most_common(1)[0][1] == 1
    assert Message.objects.filter(direction="out").count() == 20
    assert not Message.objects.filter(status__in=["queued", "sending"]).exists()
