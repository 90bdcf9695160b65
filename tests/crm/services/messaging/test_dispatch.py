"""The dispatcher plans, the sender sends: each step once, the enrolment moves on only when its
text has ended, quiet hours reschedule, stops, stale steps skipped, pacing planned as slots."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from crm.models import CompanySettings, Enrollment, Lead, Message, TimelineEvent
from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.gate import send_window
from crm.services.messaging.quiet_hours import is_allowed
from crm.services.messaging.sender import messages_send_due
from tests.crm.services.messaging.support import (
    NOON_CHICAGO,
    RecordingBackend,
    at,
    company_numbers,
    enroll,
    sequence_with_steps,
    texting_lead,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def noon():
    with at(NOON_CHICAGO):
        yield


def send_due(backend):
    return messages_send_due(budget_seconds=0, backend=backend)


def test_a_due_step_is_planned_then_sent_once_and_only_then_does_the_enrolment_move_on():
    company_numbers("+15125550100")
    sequence, steps = sequence_with_steps(0, 2, 3)
    lead = texting_lead()
    enrollment = enroll(lead, sequence, steps, NOON_CHICAGO - timedelta(minutes=1))
    stats = dispatch_due()
    assert (stats.queued, stats.claimed) == (1, 1)
    enrollment.refresh_from_db()
    assert enrollment.next_step == steps[0] and enrollment.next_run_at is None  # waits for its text
    message = Message.objects.get(lead=lead)
    assert (message.status, message.send_at, message.sequence_step) == ("queued", NOON_CHICAGO, steps[0])

    backend = RecordingBackend()
    assert send_due(backend).sent == 1
    assert backend.sent[0]["body"].startswith(f"Step 1 for {lead.business_name}: http")
    assert f"/p/{lead.preview_token}/" in backend.sent[0]["body"]
    assert backend.sent[0]["from"] == "+15125550100"
    enrollment.refresh_from_db()
    assert enrollment.next_step == steps[1] and enrollment.next_run_at == NOON_CHICAGO + timedelta(days=2)
    assert TimelineEvent.objects.filter(lead=lead, kind="message_out").count() == 1
    # Running both again at the same moment sends nothing more.
    assert dispatch_due().queued == 0 and send_due(backend).sent == 0
    assert len(backend.sent) == 1


def test_last_step_completes_the_enrollment_once_sent():
    sequence, steps = sequence_with_steps(0)
    enrollment = enroll(texting_lead(), sequence, steps, NOON_CHICAGO)
    dispatch_due()
    send_due(RecordingBackend())
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED and enrollment.next_step is None


def test_outside_quiet_hours_the_step_moves_to_the_next_opening_spread_out():
    sequence, steps = sequence_with_steps(0)
    night = NOON_CHICAGO + timedelta(hours=11)  # 23:00 in Chicago
    leads = [texting_lead() for _ in range(5)]
    enrollments = [enroll(lead, sequence, steps, night - timedelta(minutes=5)) for lead in leads]
    with at(night):
        stats = dispatch_due()
    assert stats.rescheduled == 5 and not Message.objects.exists()
    times = set()
    window = send_window(CompanySettings.load())
    for e in enrollments:
        e.refresh_from_db()
        assert e.next_step == steps[0] and e.status == "active"
        assert is_allowed(e.next_run_at, ("America/Chicago",), window)
        assert e.next_run_at.astimezone(ZoneInfo("America/Chicago")).hour == 9
        times.add(e.next_run_at)
    assert len(times) > 1  # not all at 09:00:00


@pytest.mark.parametrize("change, status, reason", [
    ({"opted_out_at": NOON_CHICAGO}, "stopped", "opted out"),
    ({"status": Lead.Status.REPLIED}, "stopped", "replied"),
    ({"status": Lead.Status.PAID}, "stopped", "paid"),
    ({"priority": Lead.Priority.HOT}, "paused", "hot"),
])
def test_blocked_leads_stop_or_pause_with_the_reason(change, status, reason):
    sequence, steps = sequence_with_steps(0, 2)
    enrollment = enroll(texting_lead(**change), sequence, steps, NOON_CHICAGO)
    dispatch_due()
    enrollment.refresh_from_db()
    assert not Message.objects.exists()
    assert enrollment.status == status and reason in enrollment.stop_reason


def test_a_lead_that_turns_hot_after_its_text_was_queued_pauses_and_keeps_its_step():
    sequence, steps = sequence_with_steps(0, 2)
    lead = texting_lead()
    enrollment = enroll(lead, sequence, steps, NOON_CHICAGO)
    dispatch_due()
    Lead.objects.filter(pk=lead.pk).update(priority=Lead.Priority.HOT)
    backend = RecordingBackend()
    assert send_due(backend).canceled == 1 and backend.sent == []
    enrollment.refresh_from_db()
    assert enrollment.status == "paused" and enrollment.next_step == steps[0] and "hot" in enrollment.stop_reason


@override_settings(SMS_STALE_AFTER_HOURS=12)
def test_a_step_more_than_the_limit_late_is_skipped_and_logged_not_sent():
    sequence, steps = sequence_with_steps(0, 2)
    lead = texting_lead()
    enrollment = enroll(lead, sequence, steps, NOON_CHICAGO - timedelta(hours=13))
    stats = dispatch_due()
    assert stats.skipped_stale == 1 and not Message.objects.exists()
    enrollment.refresh_from_db()
    assert enrollment.next_step == steps[1]
    assert TimelineEvent.objects.get(lead=lead, kind="sequence_stopped").data["skipped"].startswith("stale")


@override_settings(SMS_RATE_PER_NUMBER=1, SMS_PLAN_AHEAD_SECONDS=10)
def test_pacing_is_planned_as_slots_and_a_busy_number_is_planned_later_not_slept_through():
    company_numbers("+15125550100")
    sequence, steps = sequence_with_steps(0, 2)
    for _ in range(30):
        enroll(texting_lead(), sequence, steps, NOON_CHICAGO)
    stats = dispatch_due()
    slots = sorted(Message.objects.values_list("send_at", flat=True))
    gaps = {round((b - a).total_seconds(), 3) for a, b in zip(slots, slots[1:])}
    assert gaps == {round(1 / 0.95, 3)}  # one a second, spaced for 95% of the limit
    assert slots[0] == NOON_CHICAGO and slots[-1] - NOON_CHICAGO <= timedelta(seconds=10)
    assert stats.queued == len(slots) == 10 and stats.deferred == 20  # slots 0 s .. 9.5 s
    deferred = Enrollment.objects.filter(next_run_at__isnull=False)
    assert all(e.next_run_at > NOON_CHICAGO + timedelta(seconds=10) for e in deferred)
    # The sender sends only what is due now and returns: it never waits for the later slots.
    backend = RecordingBackend()
    assert send_due(backend).sent == 1


def test_queries_per_batch_do_not_grow_with_the_batch():
    company_numbers("+15125550100")
    sequence, steps = sequence_with_steps(0, 2)
    counts = []
    for n in (5, 40):
        for _ in range(n):
            enroll(texting_lead(), sequence, steps, NOON_CHICAGO)
        with CaptureQueriesContext(connection) as captured:
            stats = dispatch_due(batch_size=500)
        assert stats.queued == n
        counts.append(len(captured.captured_queries))
        send_due(RecordingBackend())
    assert counts[0] == counts[1]
