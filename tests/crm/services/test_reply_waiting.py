"""Lead.awaiting_reply_since and Lead.next_action_is_callback: kept by the live paths (a text
from the lead, a text sent, a call the lead answered, an outcome logged) and rebuilt by the
migration's backfill by the same rule."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.integrations.sms import SmsSendError
from crm.models import Call, Lead, Message, WebhookEvent
from crm.services.calls import call_outcome_log
from crm.services.messaging.inbound import sms_inbound_process
from crm.services.messaging.sending import message_send, messages_reconcile
from crm.services.next_actions import lead_next_action_set, next_action_callback_backfill
from crm.services.reply_waiting import (
    ANSWER_TEXT_STATUSES,
    TALKED_OUTCOMES,
    reply_waiting_answered,
    reply_waiting_backfill,
    reply_waiting_start,
)
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


def test_a_text_sent_answers_it(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    _reply(lead)
    noon.shift(60)
    assert message_send(message_id=queued(lead, "It is $499").pk, backend=RecordingBackend()) == "sent"
    assert _waiting(lead) is None


def test_a_text_that_failed_or_was_only_queued_is_no_answer(rep_user, noon):
    lead = texting_lead(assigned_rep=rep_user)
    _reply(lead)
    noon.shift(60)
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
    live = dict(Lead.objects.values_list("pk", "awaiting_reply_since"))
    assert any(live.values()) and not all(live.values())

    Lead.objects.update(awaiting_reply_since=timezone.now())  # scrambled: the backfill starts over
    waiting = reply_waiting_backfill()

    assert dict(Lead.objects.values_list("pk", "awaiting_reply_since")) == live
    assert waiting == sum(1 for value in live.values() if value)
