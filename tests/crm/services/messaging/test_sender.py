"""The sender's leases after a kill: a worker killed mid-run leaves its sender leases held until
they expire; a new sender waits for them instead of giving up, and fills free slots."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from crm.models import Message, WorkerLease
from crm.services.messaging import sender
from crm.services.messaging.sender import LEASE_TTL, messages_send_due
from tests.crm.services.messaging.support import NOON_CHICAGO, RecordingBackend, company_numbers, queued, texting_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    """A frozen wall clock that only the sender's own naps move (so its budget and the leases'
    expiry run on the same time)."""
    with time_machine.travel(NOON_CHICAGO, tick=False) as traveller:
        state = {"mono": 0.0, "slept": []}

        def sleep(seconds):
            state["slept"].append(seconds)
            state["mono"] += seconds
            traveller.shift(timedelta(seconds=seconds))

        yield state, sleep, (lambda: state["mono"])


def leases_held_by_a_killed_worker(seconds_left: float) -> None:
    for i in range(2):
        WorkerLease.objects.create(name=f"sms-sender-{i}", holder=f"dead-{i}",
                                   expires_at=timezone.now() + timedelta(seconds=seconds_left))


def one_queued_text() -> Message:
    company_numbers("+15125550100")
    return queued(texting_lead())


def test_leases_left_by_a_killed_worker_are_waited_for_and_the_texts_go_out(clock, settings):
    state, sleep, mono = clock
    settings.SMS_SENDERS = 2
    message = one_queued_text()
    leases_held_by_a_killed_worker(seconds_left=4)  # not renewed for 6 s: their sender is gone
    backend = RecordingBackend()
    stats = messages_send_due(budget_seconds=30, backend=backend, sleep=sleep, clock=mono, idle_exit=0, threads=1)
    assert not stats.busy and stats.sent == 1 and len(backend.sent) == 1
    assert state["slept"][0] == pytest.approx(4.05)  # waited for the expiry, not for the next scheduled start
    message.refresh_from_db()
    assert message.status == "sent"


def test_leases_of_live_senders_are_not_waited_for(clock, settings):
    state, sleep, mono = clock
    settings.SMS_SENDERS = 2
    one_queued_text()
    leases_held_by_a_killed_worker(seconds_left=LEASE_TTL.total_seconds() - 1)  # renewed a second ago
    stats = messages_send_due(budget_seconds=30, backend=RecordingBackend(), sleep=sleep, clock=mono, threads=1)
    assert stats.busy and state["slept"] == []  # busy at once: the worker slot is not held for nothing


def test_a_stale_lease_that_frees_after_the_budget_is_not_waited_for(clock, settings):
    state, sleep, mono = clock
    settings.SMS_SENDERS = 2
    one_queued_text()
    leases_held_by_a_killed_worker(seconds_left=5)
    stats = messages_send_due(budget_seconds=3, backend=RecordingBackend(), sleep=sleep, clock=mono, threads=1)
    assert stats.busy and state["slept"] == []


def test_a_sender_with_a_backlog_and_a_free_slot_starts_another(clock, settings, monkeypatch):
    state, sleep, mono = clock
    settings.SMS_SENDERS = 2
    one_queued_text()
    started = []
    monkeypatch.setattr(sender, "sms_sender_start", lambda: started.append(True))
    messages_send_due(budget_seconds=30, backend=RecordingBackend(), sleep=sleep, clock=mono, idle_exit=0, threads=1)
    assert started == [True]
    started.clear()
    messages_send_due(budget_seconds=0, backend=RecordingBackend())  # nothing due now: nobody more
    assert started == []


def test_a_worker_spawn_starts_a_sender_only_when_texts_wait(monkeypatch):
    from django_q.signals import post_spawn

    from crm.tasks import messaging as tasks

    started = []
    monkeypatch.setattr(tasks, "sms_sender_start", lambda: started.append(True))
    with time_machine.travel(NOON_CHICAGO, tick=False):
        post_spawn.send(sender="django_q", proc_name="Process-1")  # as django-q2's worker does
        assert started == []
        one_queued_text()
        post_spawn.send(sender="django_q", proc_name="Process-1")
    assert started == [True]
