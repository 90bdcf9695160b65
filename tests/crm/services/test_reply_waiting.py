"""Lead.awaiting_reply_since and Lead.next_action_is_callback: kept by the live paths (a text
from the lead, a text sent, a call the lead answered, an outcome logged) and rebuilt by the
migration's backfill by the same rule."""

import random
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.integrations.sms import SmsResult, SmsSendError
from crm.models import Call, Lead, Message, WebhookEvent
from crm.selectors.queue import rep_queue
from crm.services.calls import call_outcome_log
from crm.services.leads import lead_bulk_set_status, lead_update
from crm.services.messaging.inbound import sms_inbound_process
from crm.services.messaging.sending import message_send, messages_reconcile
from crm.services.messaging.status import message_status_apply
from crm.services.next_actions import lead_next_action_set, next_action_callback_backfill
from crm.services.reply_waiting import (
    ANSWER_TEXT_STATUSES,
    TALKED_OUTCOMES,
    reply_waiting_answered,
    reply_waiting_backfill,
    reply_waiting_start,
)
from crm.services.messaging import sendrows
from tests.crm.services.messaging.support import RecordingBackend, WorkerKilled, at, queued, texting_lead
from tests.factories import CallFactory, LeadFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def noon():
    with at() as clock:
        yield clock


def _waiting(lead) -> object:
    return Lead.objects.values_list("awaiting_reply_since", flat=True).get(pk=lead.pk)


def _reply(lead, body="How much is it?", n=[0]):  # noqa: B006 - a counter for unique SIDs
    n[0] += 1
    sid = f"SM{n[0]:032d}"
    event = WebhookEvent.objects.create(source="twilio_sms", event_id=sid,
                                        payload={"MessageSid": sid, "From": lead.phone, "To": "+15125550100",
                                                 "Body": body})
    sms_inbound_process(webhook_event=event)
    return Message.objects.get(provider_sid=sid)


# --- the live paths --------------------------------------------------------------------------


def test_a_text_from_the_lead_waits_and_the_newest_counts(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    first = _reply(lead)
    assert _waiting(lead) == first.created_at
    noon.shift(600)
    second = _reply(lead, "Hello?")
    assert _waiting(lead) == second.created_at > first.created_at


def test_a_text_sent_answers_it_and_the_last_reply_stays(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    reply = _reply(lead)
    noon.shift(60)
    assert message_send(message_id=queued(lead, "It is $499").pk, backend=RecordingBackend()) == "sent"
    assert _waiting(lead) is None
    assert Lead.objects.get(pk=lead.pk).last_reply_at == reply.created_at


def test_the_clear_is_part_of_the_senders_one_update_of_the_lead(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    _reply(lead)
    noon.shift(60)
    message = queued(lead, "It is $499")
    with CaptureQueriesContext(connection) as statements:
        assert message_send(message_id=message.pk, backend=RecordingBackend()) == "sent"
    lead_writes = [q["sql"] for q in statements if "UPDATE " + sendrows.LEAD in q["sql"]]
    assert len(lead_writes) == 1 and "awaiting_reply_since" in lead_writes[0]
    assert _waiting(lead) is None


class Undelivered(RecordingBackend):
    def send(self, **kwargs):
        return SmsResult(sid=super().send(**kwargs).sid, status="undelivered")


def test_a_text_that_failed_or_was_only_queued_is_no_answer(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    _reply(lead)
    noon.shift(60)
    assert message_send(message_id=queued(lead, "Hello").pk, backend=Undelivered()) == "sent"
    failing = RecordingBackend(fail_with=SmsSendError("carrier said no", code="21211", permanent=True, http_status=400))
    assert message_send(message_id=queued(lead, "Hi").pk, backend=failing) == "failed"
    queued(lead, "Later")  # written, not sent yet
    assert _waiting(lead) is not None


def test_a_text_written_before_the_reply_is_no_answer_to_it(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    early = queued(lead, "Queued before the reply came")
    noon.shift(60)
    _reply(lead)
    noon.shift(60)
    assert message_send(message_id=early.pk, backend=RecordingBackend()) == "sent"
    assert _waiting(lead) is not None


def test_a_text_adopted_by_the_reconciler_answers_it(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    _reply(lead)
    noon.shift(60)
    message = queued(lead, "Answer")
    backend = RecordingBackend(crash=True)
    with pytest.raises(WorkerKilled):
        message_send(message_id=message.pk, backend=backend)
    backend.crash = False
    backend.sent.append({"to": lead.phone, "body": "Answer", "sid": "SM" + "f" * 32, "from": ""})
    noon.shift(120)
    assert messages_reconcile(backend=backend)["adopted"] == 1
    assert _waiting(lead) is None


@pytest.mark.parametrize(("outcome", "answers"), [("connected", True), ("callback", True), ("voicemail", False),
                                                  ("no_answer", False)])
def test_an_outcome_logged_answers_it_when_they_talked(rep_user, noon, outcome, answers):
    lead = texting_lead(assigned_rep=rep_user, state="IL", time_zone="")
    _reply(lead)
    noon.shift(60)
    call_outcome_log(lead=lead, rep=rep_user, outcome=outcome, callback_at=timezone.now() + timedelta(days=1))
    assert (_waiting(lead) is None) is answers


def _status_callback(message, status: str) -> str:
    message.refresh_from_db()
    event = WebhookEvent.objects.create(source="twilio_status", event_id=f"{message.provider_sid}:{status}",
                                        payload={"MessageSid": message.provider_sid, "MessageStatus": status})
    return message_status_apply(webhook_event=event)


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_a_text_reported_failed_later_answered_nothing_and_the_reply_waits_again(rep_user, noon, status):
    lead = texting_lead(assigned_rep=rep_user)
    reply = _reply(lead)
    noon.shift(60)
    answer = queued(lead, "It is $499")
    assert message_send(message_id=answer.pk, backend=RecordingBackend()) == "sent"
    assert _waiting(lead) is None
    noon.shift(60)
    assert _status_callback(answer, status) == f"sent -> {status}"
    assert _waiting(lead) == reply.created_at


def test_a_text_reported_failed_leaves_a_reply_answered_otherwise_answered(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user, state="IL", time_zone="")
    _reply(lead)
    noon.shift(60)
    answer, delivered = queued(lead, "It is $499"), queued(lead, "Or $49 a month")
    for message in (answer, delivered):
        assert message_send(message_id=message.pk, backend=RecordingBackend()) == "sent"
    assert _status_callback(delivered, "delivered") == "sent -> delivered"
    assert _status_callback(answer, "undelivered") == "sent -> undelivered"
    assert _waiting(lead) is None  # the other text reached the lead

    _reply(lead, "And a logo?")
    noon.shift(60)
    again = queued(lead, "Yes")
    assert message_send(message_id=again.pk, backend=RecordingBackend()) == "sent"
    call_outcome_log(lead=lead, rep=rep_user, outcome="connected")
    assert _status_callback(again, "failed") == "sent -> failed"
    assert _waiting(lead) is None  # they talked after the reply


# --- a closed lead ------------------------------------------------------------------------------


def test_a_closed_lead_keeps_its_unanswered_reply_out_of_the_queue_until_reopened_as_replied(
        rep_user, admin_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    reply = _reply(lead)
    other = texting_lead(assigned_rep=rep_user)
    _reply(other)
    assert rep_queue(rep_id=rep_user.pk, now=timezone.now()).counts["reply"] == 2

    lead_update(lead=lead, data={"status": Lead.Status.LOST}, actor=rep_user)
    lead_bulk_set_status(leads=Lead.objects.filter(pk=other.pk), status=Lead.Status.PAID, actor=admin_user)
    assert _waiting(lead) == reply.created_at  # the fact stays: nobody answered it
    assert rep_queue(rep_id=rep_user.pk, now=timezone.now()).counts["reply"] == 0
    assert reply_waiting_backfill() == 2  # the rule reads no status either

    noon.shift(3600)
    lead_update(lead=lead, data={"status": Lead.Status.REPLIED}, actor=rep_user)
    queue = rep_queue(rep_id=rep_user.pk, now=timezone.now())
    assert queue.counts["reply"] == 1 and queue.rows[0].lead_id == lead.pk


# --- callbacks ---------------------------------------------------------------------------------


def test_a_callback_outcome_marks_the_next_action_until_another_is_set(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user, state="IL", time_zone="")
    tomorrow = timezone.now() + timedelta(days=1)
    call_outcome_log(lead=lead, rep=rep_user, outcome="callback", callback_at=tomorrow)
    lead.refresh_from_db()
    assert (lead.next_action_at, lead.next_action_is_callback) == (tomorrow, True)

    # Saved again unchanged from the lead page: still the callback.
    lead_next_action_set(lead=lead, actor=rep_user, next_action=lead.next_action, next_action_at=tomorrow)
    assert Lead.objects.get(pk=lead.pk).next_action_is_callback
    # Another plan: a follow-up.
    lead_next_action_set(lead=lead, actor=rep_user, next_action="Send the quote", next_action_at=tomorrow)
    assert not Lead.objects.get(pk=lead.pk).next_action_is_callback
    call_outcome_log(lead=lead, rep=rep_user, outcome="no_answer")
    lead.refresh_from_db()
    assert lead.next_action == "Call again" and not lead.next_action_is_callback


def test_the_callback_backfill_reads_the_last_call(rep_user):
    now = timezone.now()
    asked = LeadFactory(assigned_rep=rep_user, next_action_at=now)
    CallFactory(lead=asked, outcome=Call.Outcome.CALLBACK)
    later_call = LeadFactory(assigned_rep=rep_user, next_action_at=now)
    old = CallFactory(lead=later_call, outcome=Call.Outcome.CALLBACK)
    Call.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=1))
    CallFactory(lead=later_call, outcome=Call.Outcome.VOICEMAIL)
    nothing_planned = LeadFactory(assigned_rep=rep_user)
    CallFactory(lead=nothing_planned, outcome=Call.Outcome.CALLBACK)

    assert next_action_callback_backfill() == 1
    assert list(Lead.objects.filter(next_action_is_callback=True)) == [asked]


# --- the backfill keeps the live rule ---------------------------------------------------------


def _history(lead, rng: random.Random, start) -> None:
    """Texts both ways and calls in time order, applied as the live paths apply them."""
    t = start
    for _ in range(rng.randint(0, 6)):
        t += timedelta(minutes=rng.randint(1, 3))
        kind = rng.choice(["in", "in", "out", "out", "call"])
        if kind == "in":
            message = MessageFactory(lead=lead, direction="in", status="received")
            Message.objects.filter(pk=message.pk).update(created_at=t)
            reply_waiting_start(lead_id=lead.pk, at=t)
        elif kind == "out":
            status = rng.choice(list(ANSWER_TEXT_STATUSES) + ["queued", "canceled", "failed"])
            message = MessageFactory(lead=lead, direction="out", status=status)
            Message.objects.filter(pk=message.pk).update(created_at=t)
            if status in ANSWER_TEXT_STATUSES:
                reply_waiting_answered(lead_id=lead.pk, at=t)
        else:
            answered = rng.random() < 0.5
            outcome = rng.choice(["", "voicemail", "no_answer", *TALKED_OUTCOMES])
            call = CallFactory(lead=lead, outcome=outcome, answered_at=t if answered else None)
            Call.objects.filter(pk=call.pk).update(created_at=t)
            if answered or outcome in TALKED_OUTCOMES:
                reply_waiting_answered(lead_id=lead.pk, at=t)


@pytest.mark.parametrize("seed", range(4))
def test_the_backfill_rebuilds_what_the_live_paths_kept(rep_user, seed):
    rng = random.Random(seed)
    start = timezone.now() - timedelta(days=1)
    leads = [LeadFactory(assigned_rep=rep_user) for _ in range(25)]
    for lead in leads:
        _history(lead, rng, start)
    live = {pk: (waiting, last) for pk, waiting, last in
            Lead.objects.values_list("pk", "awaiting_reply_since", "last_reply_at")}
    assert any(w for w, _ in live.values()) and not all(w for w, _ in live.values())
    assert any(last and not w for w, last in live.values())  # answered replies

    Lead.objects.update(awaiting_reply_since=timezone.now(), last_reply_at=timezone.now())  # scrambled
    waiting = reply_waiting_backfill()

    assert {pk: (w, last) for pk, w, last in
            Lead.objects.values_list("pk", "awaiting_reply_since", "last_reply_at")} == live
    assert waiting == sum(1 for w, _ in live.values() if w)
