"""The dispatcher: each step once, quiet hours reschedule, stops, stale steps skipped."""

from datetime import timedelta

import pytest
from django.test import override_settings

from crm.models import Enrollment, Lead, Message, TimelineEvent
from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.quiet_hours import is_allowed
from tests.crm.services.messaging.support import (
    NOON_CHICAGO,
    RecordingBackend,
    company_numbers,
    enroll,
    sequence_with_steps,
    texting_lead,
)

pytestmark = pytest.mark.django_db


def test_due_steps_are_sent_once_and_the_enrollment_moves_on():
    company_numbers("+15125550100")
    sequence, steps = sequence_with_steps(0, 2, 3)
    lead = texting_lead()
    enrollment = enroll(lead, sequence, steps, NOON_CHICAGO - timedelta(minutes=1))
    backend = RecordingBackend()
    stats = dispatch_due(now=NOON_CHICAGO, backend=backend)
    assert (stats.queued, stats.sent) == (1, 1)
    assert backend.sent[0]["body"].startswith(f"Step 1 for {lead.business_name}: http")
    assert f"/p/{lead.preview_token}/" in backend.sent[0]["body"]
    assert backend.sent[0]["from"] == "+15125550100"
    enrollment.refresh_from_db()
    assert enrollment.next_step == steps[1]
    assert enrollment.next_run_at == NOON_CHICAGO + timedelta(days=2)
    message = Message.objects.get(lead=lead)
    assert (message.status, message.sequence_step, message.provider_sid) == ("sent", steps[0], backend.sent[0]["sid"])
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED and lead.last_contacted_at == NOON_CHICAGO
    assert TimelineEvent.objects.filter(lead=lead, kind="message_out").count() == 1
    # Running again at the same moment sends nothing more.
    assert dispatch_due(now=NOON_CHICAGO, backend=backend).queued == 0
    assert len(backend.sent) == 1


def test_last_step_completes_the_enrollment():
    sequence, steps = sequence_with_steps(0)
    enrollment = enroll(texting_lead(), sequence, steps, NOON_CHICAGO)
    dispatch_due(now=NOON_CHICAGO, backend=RecordingBackend())
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED and enrollment.next_step is None


def test_outside_quiet_hours_the_step_moves_to_the_next_opening_spread_out():
    sequence, steps = sequence_with_steps(0)
    night = NOON_CHICAGO + timedelta(hours=11)  # 23:00 in Chicago
    leads = [texting_lead() for _ in range(5)]
    enrollments = [enroll(lead, sequence, steps, night - timedelta(minutes=5)) for lead in leads]
    backend = RecordingBackend()
    stats = dispatch_due(now=night, backend=backend)
    assert stats.rescheduled == 5 and backend.sent == []
    times = set()
    for e in enrollments:
        e.refresh_from_db()
        assert e.next_step == steps[0] and e.status == "active"
        assert is_allowed(e.next_run_at, ("America/Chicago",), __import__("crm.services.messaging.gate",
                          fromlist=["x"]).send_window(__import__("crm.models", fromlist=["x"]).CompanySettings.load()))
        assert e.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("America/Chicago")).hour == 9
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
    backend = RecordingBackend()
    dispatch_due(now=NOON_CHICAGO, backend=backend)
    enrollment.refresh_from_db()
    assert backend.sent == []
    assert enrollment.status == status and reason in enrollment.stop_reason


@override_settings(SMS_STALE_AFTER_HOURS=12)
def test_a_step_more_than_the_limit_late_is_skipped_and_logged_not_sent():
    sequence, steps = sequence_with_steps(0, 2)
    lead = texting_lead()
    enrollment = enroll(lead, sequence, steps, NOON_CHICAGO - timedelta(hours=13))
    backend = RecordingBackend()
    stats = dispatch_due(now=NOON_CHICAGO, backend=backend)
    assert stats.skipped_stale == 1 and backend.sent == []
    enrollment.refresh_from_db()
    assert enrollment.next_step == steps[1]
    assert TimelineEvent.objects.get(lead=lead, kind="sequence_stopped").data["skipped"] == "stale"


def test_spoke_973_stale_queued_messages_do_not_go_out_next_morning():
    lead = texting_lead()
    message = Message.objects.create(lead=lead, direction="out", body="Yesterday's text", to_number=lead.phone,
                                     status=Message.Status.QUEUED)
    Message.objects.filter(pk=message.pk).update(created_at=NOON_CHICAGO - timedelta(hours=20))
    backend = RecordingBackend()
    stats = dispatch_due(now=NOON_CHICAGO, backend=backend)
    message.refresh_from_db()
    assert backend.sent == [] and stats.canceled == 1
    assert message.status == "canceled" and message.error_message.startswith("stale")


def test_queries_per_batch_do_not_grow_with_the_batch():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    company_numbers("+15125550100")
    sequence, steps = sequence_with_steps(0, 2)
    counts = []
    for n in (5, 40):
        for _ in range(n):
            enroll(texting_lead(), sequence, steps, NOON_CHICAGO)
        with CaptureQueriesContext(connection) as captured:
            stats = dispatch_due(now=NOON_CHICAGO, batch_size=500, backend=RecordingBackend())
        assert stats.sent == n
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]
