import random
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Call, Lead, Message, TimelineEvent
from crm.selectors.queue import BUCKET_KEYS, Bucket, rep_queue
from crm.services.reply_waiting import reply_waiting_answered, reply_waiting_start, text_answers
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
    """A text, with what the inbound and sending paths do to the lead (in time order)."""
    status = status or (Message.Status.RECEIVED if direction == "in" else Message.Status.SENT)
    message = MessageFactory(lead=lead, direction=direction, body=body, status=status)
    at = NOW - timedelta(minutes=minutes_ago)
    _at(Message, message, at)
    if direction == "in":
        reply_waiting_start(lead_id=lead.pk, at=at)
    elif text_answers(status):
        reply_waiting_answered(lead_id=lead.pk, at=at)
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
    callback = LeadFactory(assigned_rep=rep, next_action_at=NOW - timedelta(minutes=5), next_action="Call back",
                           next_action_is_callback=True)
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
    _text(lead, "out", 4, status=Message.Status.FAILED)
    _text(lead, "out", 3, status=Message.Status.QUEUED)  # not an answer until it goes out
    assert rep_queue(rep_id=rep.pk, now=NOW).counts["reply"] == 1
    _text(lead, "out", 2, status=Message.Status.SENT)  # answered
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
        due = LeadFactory(assigned_rep=rep, next_action_at=NOW - timedelta(minutes=i + 1),
                          next_action_is_callback=bool(i % 2))
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


def _reference(rep, now) -> tuple[list[tuple[int, Bucket]], dict[str, int]]:
    """The queue's rules read lead by lead in Python, apart from the selector's SQL."""
    keyed = []
    for lead in Lead.objects.filter(assigned_rep=rep, opted_out_at__isnull=True):
        awake = lead.next_action_at is None or lead.next_action_at <= now
        acted = [e.created_at for e in TimelineEvent.objects.filter(lead=lead, actor__isnull=False)]

        def fresh(t):
            return awake or not any(when >= t for when in acted)

        if (lead.priority == Lead.Priority.HOT and lead.hot_at and lead.status not in ("PAID", "LOST")
                and fresh(lead.hot_at)):
            keyed.append(((Bucket.HOT, -lead.hot_at.timestamp(), -lead.pk), lead.pk, Bucket.HOT))
        elif lead.status == Lead.Status.REPLIED and lead.awaiting_reply_since and fresh(lead.awaiting_reply_since):
            keyed.append(((Bucket.REPLY, lead.awaiting_reply_since.timestamp(), lead.pk), lead.pk, Bucket.REPLY))
        elif lead.next_action_at is not None and lead.next_action_at <= now:
            bucket = Bucket.CALLBACK if lead.next_action_is_callback else Bucket.FOLLOW_UP
            keyed.append(((bucket, lead.next_action_at.timestamp(), lead.pk), lead.pk, bucket))
    keyed.sort()
    counts = {key: sum(1 for _, _, b in keyed if BUCKET_KEYS[b] == key) for key in BUCKET_KEYS.values()}
    return [(pk, bucket) for _, pk, bucket in keyed], counts


@pytest.mark.parametrize("seed", range(6))
def test_buckets_counts_and_order_match_the_rules_lead_by_lead(rep, seed):
    rng = random.Random(seed)
    other = RepUserFactory()

    def when():
        return NOW + timedelta(minutes=rng.choice([-3000, -600, -90, -30, -5, 5, 90, 3000]) + rng.randint(0, 4))

    for _ in range(70):
        lead = LeadFactory(
            assigned_rep=rng.choice([rep, rep, rep, other]),
            priority=rng.choice(["HOT", "WARM", "NORMAL"]), hot_at=rng.choice([None, when(), when()]),
            status=rng.choice(["NEW", "CONTACTED", "REPLIED", "REPLIED", "PAID", "LOST"]),
            awaiting_reply_since=rng.choice([None, when()]), next_action_at=rng.choice([None, when(), when()]),
            next_action_is_callback=rng.random() < 0.4, opted_out_at=NOW if rng.random() < 0.1 else None)
        for _ in range(rng.randint(0, 2)):
            event = TimelineEventFactory(lead=lead, actor=rep if rng.random() < 0.7 else None)
            _at(TimelineEvent, event, when())

    queue = rep_queue(rep_id=rep.pk, now=NOW, limit=30)
    expected_rows, expected_counts = _reference(rep, NOW)

    assert queue.counts == expected_counts
    assert [(r.lead_id, r.bucket) for r in queue.rows] == expected_rows[:30]
    assert rep_queue(rep_id=rep.pk, now=NOW, limit=0).counts == expected_counts
