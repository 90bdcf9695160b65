"""The seven send-engine defects of issue 9, one test each, named after them. Each failed on
main before the engine sent one message per unit; the chaos run (bench/chaos_sms.py) checks
the same properties with real worker processes, kills and a fake Twilio."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone
from twilio.request_validator import RequestValidator

from crm.models import Enrollment, Lead, Message, Notification, TimelineEvent, WebhookEvent
from crm.services.enrollments import enrollment_create
from crm.services.messaging import optout
from crm.services.messaging.dispatch import dispatch_due
from crm.services.messaging.gate import can_send
from crm.services.messaging.optout import lead_opt_out
from crm.services.messaging.sender import MAX_NAP, messages_send_due
from crm.services.messaging.sending import message_send, messages_reconcile
from crm.services.messaging.sendrows import message_claim
from crm.services.webhooks import webhook_events_retry
from tests.crm.services.messaging.support import (
    NOON_CHICAGO,
    RecordingBackend,
    WorkerKilled,
    at,
    company_numbers,
    enroll,
    queued,
    sequence_with_steps,
    texting_lead,
)
from tests.factories import AdminUserFactory

pytestmark = pytest.mark.django_db
TOKEN, BASE = "defects-token", "https://crm.example.com"


def signed_post(path, params):
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.fixture
def twilio(settings):
    settings.TWILIO_AUTH_TOKEN, settings.PUBLIC_BASE_URL = TOKEN, BASE


class KilledAfter(RecordingBackend):
    """The worker process dies during its (n+1)-th provider call."""

    def __init__(self, n):
        super().__init__()
        self.n = n

    def send(self, **kwargs):
        if len(self.sent) == self.n:
            raise WorkerKilled("SIGKILL")
        return super().send(**kwargs)


@override_settings(SMS_RATE_PER_NUMBER=1)
def test_1_killed_batches_lose_no_step_and_no_task_sleeps_through_pacing():
    company_numbers("+15125550100")
    sequence, steps = sequence_with_steps(0, 2)
    with time_machine.travel(NOON_CHICAGO, tick=False) as clock:
        enrollments = [enroll(texting_lead(), sequence, steps, NOON_CHICAGO) for _ in range(40)]
        assert dispatch_due().queued == 40  # planned in one go: 40 slots ~1 s apart, no waiting
        naps = []

        def nap(seconds):
            naps.append(seconds)
            clock.shift(seconds)

        backend = KilledAfter(12)
        with pytest.raises(WorkerKilled):
            messages_send_due(budget_seconds=50, backend=backend, sleep=nap,
                              clock=lambda: timezone.now().timestamp())
        assert naps and max(naps) <= MAX_NAP  # it napped between slots, never slept through a pace
        statuses = list(Message.objects.values_list("status", flat=True))
        assert (statuses.count("sent"), statuses.count("sending"), statuses.count("queued")) == (12, 1, 27)
        moved = Enrollment.objects.filter(next_step=steps[1]).count()
        assert moved == 12  # only the enrolments whose step was sent moved on
        for enrollment in Enrollment.objects.filter(next_step=steps[1]):
            assert Message.objects.filter(enrollment=enrollment, status="sent").exists()

        clock.shift(timedelta(minutes=10))
        survivor = RecordingBackend()
        assert messages_reconcile(backend=survivor) == {"adopted": 0, "failed": 1}
        stats = messages_send_due(budget_seconds=0, backend=survivor)
    assert stats.sent == 27
    sent_to = [s["to"] for s in backend.sent + survivor.sent]
    assert len(sent_to) == len(set(sent_to)) == 39
    for enrollment in enrollments:
        enrollment.refresh_from_db()
        assert enrollment.next_step == steps[1]  # each step ended once: 39 sent, 1 failed with its reason
    failed = Message.objects.get(status="failed")
    assert TimelineEvent.objects.filter(lead=failed.lead, kind="sequence_stopped",
                                        data__failed__icontains="not re-sent").exists()


def test_2_bulk_send_is_queued_not_run_in_the_request_and_never_repeats():
    """The request writes rows and returns; the worker sends. (The admin test with 200 leads
    and the second run is tests/crm/admin/test_bulk_send.py.)"""
    from crm.services.messaging.bulk_send import sms_bulk_send

    leads = [texting_lead() for _ in range(5)]
    with at():
        plan = sms_bulk_send(leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]), body="Hi {business_name}")
        assert (plan.queued, Message.objects.filter(status="queued").count()) == (5, 5)
        again = sms_bulk_send(leads=Lead.objects.filter(pk__in=[lead.pk for lead in leads]), body="Hi {business_name}")
    assert (again.queued, again.duplicates) == (0, 5)


def test_3_a_stop_during_a_batch_stops_texts_already_claimed():
    lead = texting_lead()
    with at():
        message = queued(lead)
        claimed = message_claim(message_id=message.pk, now=timezone.now())  # a sender has it in hand...
        lead_opt_out(lead=Lead.objects.get(pk=lead.pk), source="text: STOP")  # ...when STOP commits
        backend = RecordingBackend()
        assert message_send(claimed=claimed, backend=backend) == "canceled"
    assert backend.sent == []
    message.refresh_from_db()
    assert message.status == "canceled" and "opted out" in message.error_message


def test_4_status_callbacks_that_arrive_before_the_sid_is_written_are_applied_not_dropped(twilio):
    company_numbers("+15125550100")
    leads = [texting_lead() for _ in range(4)]

    class CallbackFirst(RecordingBackend):
        """Twilio posts the callbacks while our API call has not returned yet."""

        name = "twilio"

        def on_send(self, sid):
            lead = Lead.objects.get(phone=self.sent[-1]["to"])
            for status in ("sent", "delivered"):
                params = {"MessageSid": sid, "MessageStatus": status, "To": lead.phone, "From": "+15125550100"}
                if lead == leads[3]:
                    params.update(MessageStatus="failed", ErrorCode="21610")
                assert signed_post("/webhooks/twilio/status/", params).status_code == 200

    with at():
        for lead in leads:
            queued(lead)
        assert messages_send_due(budget_seconds=0, backend=CallbackFirst()).sent == 4
    statuses = dict(Message.objects.values_list("lead_id", "status"))
    assert [statuses[lead.pk] for lead in leads] == ["delivered", "delivered", "delivered", "failed"]
    assert not WebhookEvent.objects.filter(source="twilio_status", processed_at__isnull=True).exists()
    leads[3].refresh_from_db()
    assert leads[3].opted_out_at is not None  # the 21610 reported by callback opted the lead out


def test_5_a_failed_inbound_stop_is_processed_again_by_itself(twilio, monkeypatch):
    lead = texting_lead()
    AdminUserFactory()
    real_opt_out, failures = optout.lead_opt_out, []

    def flaky_opt_out(**kwargs):
        if len(failures) < 1:
            failures.append(1)
            raise ConnectionError("database went away")
        return real_opt_out(**kwargs)

    monkeypatch.setattr("crm.services.messaging.inbound.lead_opt_out", flaky_opt_out)
    params = {"MessageSid": "SM" + "5" * 32, "From": lead.phone, "To": "+15125550100", "Body": "STOP"}
    with at():
        assert signed_post("/webhooks/twilio/sms/", params).status_code == 200
        event = WebhookEvent.objects.get(source="twilio_sms")
        assert event.processed_at is None and "database went away" in event.error
        assert event.next_attempt_at == timezone.now() + timedelta(minutes=1)
        # Twilio's retry of the same MessageSid is not taken for a duplicate: it is processed.
        response = signed_post("/webhooks/twilio/sms/", params)
    assert b"unsubscribed" in response.content
    lead.refresh_from_db()
    event.refresh_from_db()
    assert lead.opted_out_at is not None and event.processed_at is not None and event.attempts == 2


def test_5_the_scheduled_retry_takes_failed_events_with_backoff_then_flags_them(twilio, monkeypatch):
    lead = texting_lead()
    admin = AdminUserFactory()

    def broken(**kwargs):
        raise ConnectionError("still down")

    monkeypatch.setattr("crm.services.messaging.inbound.lead_opt_out", broken)
    params = {"MessageSid": "SM" + "6" * 32, "From": lead.phone, "To": "+15125550100", "Body": "STOP"}
    with time_machine.travel(NOON_CHICAGO, tick=False) as clock:
        signed_post("/webhooks/twilio/sms/", params)
        assert webhook_events_retry() == {"due": 0, "processed": 0}  # not before its backoff
        for minutes in (1, 5, 15, 60, 240):
            clock.shift(timedelta(minutes=minutes))
            assert webhook_events_retry()["due"] == 1
        event = WebhookEvent.objects.get(source="twilio_sms")
        assert event.attempts == 6 and event.flagged_at is not None and event.next_attempt_at is None
        assert Notification.objects.filter(recipient=admin, kind="webhook_failed").count() == 1
        clock.shift(timedelta(days=1))
        assert webhook_events_retry()["due"] == 0  # flagged: a person replays it from the admin
        monkeypatch.undo()
        assert signed_post("/webhooks/twilio/sms/", params).status_code == 200  # or Twilio retries it
    lead.refresh_from_db()
    assert lead.opted_out_at is not None


def test_6_unknown_or_ambiguous_time_zones_use_the_narrowest_window():
    # Pensacola is on Central time; with only its state known, Florida's zones both apply.
    pensacola = texting_lead(city="Pensacola", state="FL", time_zone="America/New_York", time_zone_source="state",
                             latitude=None, longitude=None)
    seven_fifteen_central = datetime(2026, 7, 15, 12, 15, tzinfo=dt_timezone.utc)  # 08:15 Eastern
    decision = can_send(pensacola, seven_fifteen_central, automated=True)
    assert not decision and decision.code == "quiet_hours" and "America/Chicago" in decision.reason
    assert not can_send(pensacola, seven_fifteen_central + timedelta(hours=1), automated=True)  # 08:15 Central
    assert can_send(pensacola, seven_fifteen_central + timedelta(hours=2), automated=True)  # 09:15 Central
    # Nothing known (no zone, no state): every US zone, from Maine to Hawaii; the area code counts for nothing.
    nowhere = texting_lead(state="", time_zone="", phone="+13055550142")  # a Miami area code
    ten_in_miami = datetime(2026, 7, 15, 14, 0, tzinfo=dt_timezone.utc)  # 04:00 in Honolulu
    assert not can_send(nowhere, ten_in_miami, automated=True)
    assert can_send(nowhere, datetime(2026, 7, 15, 19, 30, tzinfo=dt_timezone.utc), automated=True)
    # Placed by its coordinates, the lead gets its own zone's window.
    placed = texting_lead(state="FL", time_zone="America/Chicago", time_zone_source="coordinates")
    assert can_send(placed, seven_fifteen_central + timedelta(hours=2), automated=True)


def test_7_re_enrolling_a_lead_continues_where_it_left_off_unless_an_admin_restarts():
    sequence, steps = sequence_with_steps(0, 0, 0)
    lead = texting_lead()
    backend = RecordingBackend()
    with at():
        first = enrollment_create(lead=lead, sequence=sequence)
        for _ in range(2):  # steps 1 and 2 go out, then the enrolment is stopped
            dispatch_due()
            messages_send_due(budget_seconds=0, backend=backend)
        Enrollment.objects.filter(pk=first.pk).update(status="stopped", stop_reason="paused by hand")
        again = enrollment_create(lead=lead, sequence=sequence)
        assert again.next_step == steps[2]
        dispatch_due()
        messages_send_due(budget_seconds=0, backend=backend)
        assert [s["body"][:6] for s in backend.sent] == ["Step 1", "Step 2", "Step 3"]
        # An enrolment made another way (not through the service) still skips what was received.
        Enrollment.objects.filter(pk=again.pk).update(status="stopped")
        sneaky = Enrollment.objects.create(lead=lead, sequence=sequence, next_step=steps[0],
                                           next_run_at=timezone.now())
        stats = dispatch_due()
        assert stats.skipped_received == 3 and stats.queued == 0
        sneaky.refresh_from_db()
        assert sneaky.status == "completed"
        # An admin's explicit restart sends them again.
        restarted = enrollment_create(lead=lead, sequence=sequence, restart=True)
        assert restarted.next_step == steps[0]
        dispatch_due()
        messages_send_due(budget_seconds=0, backend=backend)
    assert [s["body"][:6] for s in backend.sent] == ["Step 1", "Step 2", "Step 3", "Step 1"]
