from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Call, Lead, Message, TimelineEvent
from crm.selectors.queue import Bucket, rep_queue
from tests.factories import CallFactory, LeadFactory, MessageFactory, RepUserFactory, TimelineEventFactory

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=dt_timezone.utc)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _at(model, obj, when):
    model.objects.filter(pk=obj.pk).update(created_at=when)


def _text(lead, direction, minutes_ago, body="hi", status=None):
    status = status or (Message.Status.RECEIVED if direction == "in" else Message.Status.SENT)
    message = MessageFactory(lead=lead, direction=direction, body=body, status=status)
    _at(Message, message, NOW - timedelta(minutes=minutes_ago))
    return message


def _call(lead, minutes_ago, outcome=Call.Outcome.NO_ANSWER, actor=True):
    call = CallFactory(lead=lead, outcome=outcome)
    _at(Call, call, NOW - timedelta(minutes=minutes_ago))
    if actor:
        event = TimelineEventFactory(lead=lead, kind=TimelineEvent.Kind.CALL, actor=lead.assigned_rep)
        _at(TimelineEvent, event, NOW - timedelta(minutes=minutes_ago))
    return call


def _hot(rep, minutes_ago, **kwargs):
    return LeadFactory(assigned_rep=rep, priority=Lead.Priority.HOT, hot_at=NOW - timedelta(minutes=minutes_ago),
                       **kwargs)


@pytest.fixture
def rep():
    return RepUserFactory()


def test_buckets_in_order_each_with_its_reason(rep):
    old_hot = _hot(rep, 30, business_name="Old hot")
    new_hot = _hot(rep, 2, business_name="New hot")
    replied = LeadFactory(assigned_rep=rep, status=Lead.Status.REPLIED, business_name="Replied")
    _text(replied, "out", 60)
    _text(replied, "in", 20, body="How much is it?")
    callback = LeadFactory(assigned_rep=rep, next_action_at=NOW - timedelta(minutes=5), next_action="Call back")
    _call(callback, 24 * 60, outcome=Call.Outcome.CALLBACK)
    follow = LeadFactory(assigned_rep=rep, next_action_at=NOW - timedelta(hours=3), next_action="Send the quote")

    queue = rep_queue(rep_id=rep.pk, now=NOW)

    assert [r.lead_id for r in queue.rows] == [new_hot.pk, old_hot.pk, replied.pk, callback.pk, follow.pk]
    assert [r.bucket for r in queue.rows] == [Bucket.HOT, Bucket.HOT, Bucket.REPLY, Bucket.CALLBACK, Bucket.FOLLOW_UP]
    assert queue.counts == {"hot": 2, "reply": 1, "callback": 1, "follow_up": 1}
    reasons = [r.reason for r in queue.rows]
    assert reasons[0] == "Hot lead: alert 2 min ago, not called or texted yet"
    assert reasons[2] == "Replied 20 min ago, waiting for an answer: \u201cHow much is it?\u201d"
    assert reasons[3] == "Callback due 5 min ago: Call back"
    assert reasons[4] == "Follow-up due 3 h ago: Send the quote"


def test_hot_timer_stops_at_the_first_call_or_text_after_the_alert(rep):
    lead = _hot(rep, 30)
    _text(lead, "out", 45)  # before the alert: not an answer to it
    _call(lead, 26)
    row = rep_queue(rep_id=rep.pk, now=NOW).rows[0]
    assert row.reached_at == NOW - timedelta(minutes=26)
    assert row.reason == "Hot lead: alert 30 min ago, reached after 4 min"


def test_a_reply_leaves_once_answered_and_canceled_texts_are_no_answer(rep):
    lead = LeadFactory(assigned_rep=rep, status=Lead.Status.REPLIED)
    _text(lead, "in", 10)
    _text(lead, "out", 5, status=Message.Status.CANCELED)
    assert rep_queue(rep_id=rep.pk, now=NOW).counts["reply"] == 1
    _text(lead, "out", 2, status=Message.Status.QUEUED)  # answered: on its way
    assert rep_queue(rep_id=rep.pk, now=NOW).counts["reply"] == 0


def test_replies_waiting_longest_come_first(rep):
    first, second = (LeadFactory(assigned_rep=rep, status=Lead.Status.REPLIED) for _ in range(2))
    _text(second, "in", 5)
    _text(first, "in", 50)
    assert [r.lead_id for r in rep_queue(rep_id=rep.pk, now=NOW).rows] == [first.pk, second.pk]


def test_snoozed_leads_are_out_until_their_time(rep):
    later = NOW + timedelta(hours=19)
    lead = LeadFactory(assigned_rep=rep, next_action_at=later, status=Lead.Status.REPLIED)
    _text(lead, "in", 10)
    _at(TimelineEvent, TimelineEventFactory(lead=lead, actor=rep), NOW - timedelta(minutes=5))  # the rep saw it
    LeadFactory(assigned_rep=rep, next_action_at=later)
    assert rep_queue(rep_id=rep.pk, now=NOW).total == 0
    queue = rep_queue(rep_id=rep.pk, now=later)
    # Due now: the reply still waits (a reply outranks a follow-up), and the other lead is due.
    assert [r.bucket for r in queue.rows] == [Bucket.REPLY, Bucket.FOLLOW_UP]


def test_a_hot_lead_the_rep_worked_stays_snoozed_but_a_fresh_alert_comes_back(rep):
    worked = _hot(rep, 30, next_action_at=NOW + timedelta(hours=19))
    _call(worked, 20, outcome=Call.Outcome.CALLBACK)  # the rep acted after the alert
    fresh = _hot(rep, 3, next_action_at=NOW + timedelta(days=7))
    # The snooze was set a week ago, long before this alert.
    _at(TimelineEvent, TimelineEventFactory(lead=fresh, actor=rep), NOW - timedelta(days=7))
    queue = rep_queue(rep_id=rep.pk, now=NOW)
    assert [r.lead_id for r in queue.rows] == [fresh.pk]


def test_a_reply_to_a_snoozed_lead_nobody_has_seen_brings_it_back(rep):
    lead = LeadFactory(assigned_rep=rep, next_action_at=NOW + timedelta(days=14), status=Lead.Status.REPLIED)
    _at(TimelineEvent, TimelineEventFactory(lead=lead, actor=rep), NOW - timedelta(days=1))  # snoozed yesterday
    _text(lead, "in", 30, body="Actually, call me today")
    assert [r.bucket for r in rep_queue(rep_id=rep.pk, now=NOW).rows] == [Bucket.REPLY]


def test_other_reps_opted_out_paid_and_lost_leads_are_left_out(rep):
    other = RepUserFactory()
    _hot(other, 1)
    _hot(rep, 1, opted_out_at=NOW)
    _hot(rep, 1, status=Lead.Status.PAID)
    _hot(rep, 1, status=Lead.Status.LOST)
    LeadFactory(assigned_rep=rep)  # nothing to do
    LeadFactory(assigned_rep=rep, status=Lead.Status.REPLIED)  # no text at all
    assert rep_queue(rep_id=rep.pk, now=NOW).total == 0


def test_counts_cover_everything_rows_are_limited(rep):
    for minutes in range(1, 8):
        _hot(rep, minutes)
    queue = rep_queue(rep_id=rep.pk, now=NOW, limit=3)
    assert len(queue.rows) == 3 and queue.counts["hot"] == 7 and queue.truncated


def _world(rep, n: int) -> None:
    for i in range(n):
        _hot(rep, i + 1)
        replied = LeadFactory(assigned_rep=rep, status=Lead.Status.REPLIED)
        _text(replied, "in", i + 1)
        due = LeadFactory(assigned_rep=rep, next_action_at=NOW - timedelta(minutes=i + 1))
        _call(due, 60, outcome=Call.Outcome.CALLBACK if i % 2 else Call.Outcome.VOICEMAIL)


def test_four_queries_whatever_the_size(rep):
    _world(rep, 2)
    with CaptureQueriesContext(connection) as small:
        assert rep_queue(rep_id=rep.pk, now=NOW).total == 6
    _world(rep, 20)
    with CaptureQueriesContext(connection) as big:
        queue = rep_queue(rep_id=rep.pk, now=NOW)
    assert queue.total == 66 and queue.counts["callback"] == 11
    assert len(small) == len(big) == 4
