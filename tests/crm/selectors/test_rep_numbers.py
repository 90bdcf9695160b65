from datetime import date, datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Call, Client, Lead, Message, Target, Transaction
from crm.selectors.rep_numbers import month_bounds, reps_numbers
from crm.services.reply_waiting import reply_waiting_backfill, reply_waiting_start
from tests.factories import (
    CallFactory,
    ClientFactory,
    LeadFactory,
    MessageFactory,
    RepUserFactory,
    TargetFactory,
    TransactionFactory,
)

NOW = datetime(2026, 3, 20, 15, 0, tzinfo=dt_timezone.utc)
START, END = month_bounds(NOW)
LAST_MONTH = NOW - timedelta(days=30)
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fixed_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _at(model, obj, when):
    model.objects.filter(pk=obj.pk).update(created_at=when)
    return obj


def _reply(lead, when):
    """A text from the lead, with what the inbound path does to the lead."""
    _at(Message, MessageFactory(lead=lead, direction=Message.Direction.INBOUND, status="received"), when)
    reply_waiting_start(lead_id=lead.pk, at=when)


def _activity(rep, *, when):
    lead = LeadFactory(assigned_rep=rep)
    _at(Call, CallFactory(lead=lead, rep=rep, answered_at=when, outcome=Call.Outcome.INTERESTED), when)
    _at(Call, CallFactory(lead=lead, rep=rep, outcome=Call.Outcome.CONNECTED), when)
    _at(Call, CallFactory(lead=lead, rep=rep, outcome=Call.Outcome.NO_ANSWER), when)
    _at(Message, MessageFactory(lead=lead, sent_by=rep), when)
    _at(Message, MessageFactory(lead=lead, sent_by=rep, status=Message.Status.CANCELED), when)
    _at(Message, MessageFactory(lead=lead, sent_by=None), when)  # a sequence's text, not the rep's
    _reply(lead, when)
    client = _at(Client, ClientFactory(rep=rep), when)
    TransactionFactory(client=client, amount_cents=49_900, occurred_at=when)
    TransactionFactory(client=client, amount_cents=-10_000, kind=Transaction.Kind.REFUND, occurred_at=when)
    TransactionFactory(client=client, amount_cents=9_900, status=Transaction.Status.FAILED, occurred_at=when)


def test_counts_of_the_period_only_and_only_the_reps_own():
    rep, other = RepUserFactory(), RepUserFactory()
    _activity(rep, when=NOW - timedelta(days=2))
    _activity(rep, when=LAST_MONTH)
    _activity(other, when=NOW - timedelta(days=2))
    n = reps_numbers(rep_ids=[rep.pk], start=START, end=END)[rep.pk]
    assert (n.calls, n.connects, n.texts, n.replies, n.deals, n.revenue_cents) == (3, 2, 1, 1, 1, 39_900)


def test_median_speed_to_lead_from_alert_to_first_call_or_text():
    rep = RepUserFactory()
    alert = NOW - timedelta(days=1)
    fast = LeadFactory(assigned_rep=rep, priority=Lead.Priority.HOT, hot_at=alert)
    _at(Message, MessageFactory(lead=fast), alert + timedelta(minutes=2))
    _at(Call, CallFactory(lead=fast, rep=rep), alert + timedelta(minutes=9))
    middle = LeadFactory(assigned_rep=rep, priority=Lead.Priority.WARM, hot_at=alert)  # cooled since
    _at(Call, CallFactory(lead=middle, rep=rep), alert - timedelta(minutes=5))  # before the alert: not counted
    _at(Call, CallFactory(lead=middle, rep=rep), alert + timedelta(minutes=6))
    slow = LeadFactory(assigned_rep=rep, priority=Lead.Priority.HOT, hot_at=alert)
    _at(Call, CallFactory(lead=slow, rep=rep), alert + timedelta(minutes=30))
    LeadFactory(assigned_rep=rep, priority=Lead.Priority.HOT, hot_at=alert)  # not reached yet
    LeadFactory(assigned_rep=rep, priority=Lead.Priority.HOT, hot_at=LAST_MONTH)  # another month
    n = reps_numbers(rep_ids=[rep.pk], start=START, end=END)[rep.pk]
    assert n.median_speed_seconds == 6 * 60
    assert (n.hot_leads, n.reached, n.unreached) == (4, 3, 1)


def test_no_hot_leads_no_median():
    rep = RepUserFactory()
    assert reps_numbers(rep_ids=[rep.pk], start=START, end=END)[rep.pk].median_speed_seconds is None


def test_targets_of_the_month_with_their_actuals():
    rep, other = RepUserFactory(), RepUserFactory()
    _activity(rep, when=NOW - timedelta(days=2))
    month = date(2026, 3, 1)
    TargetFactory(rep=rep, metric=Target.Metric.NEW_CLIENTS, period_start=month, goal=4)
    TargetFactory(rep=rep, metric=Target.Metric.REVENUE, period_start=month, goal=100_000)
    TargetFactory(rep=rep, metric=Target.Metric.LEADS, period_start=month, goal=50)
    TargetFactory(rep=rep, metric=Target.Metric.NEW_CLIENTS, period_start=date(2026, 2, 1), goal=9)
    TargetFactory(rep=other, metric=Target.Metric.NEW_CLIENTS, period_start=month, goal=7)
    TargetFactory(rep=None, metric=Target.Metric.REPLIES, period_start=month, goal=70)
    targets = {t.metric: t for t in reps_numbers(rep_ids=[rep.pk], start=START, end=END)[rep.pk].targets}
    assert set(targets) == {"new_clients", "revenue", "leads"}
    assert (targets["new_clients"].actual, targets["new_clients"].percent) == (1, 25)
    assert (targets["revenue"].actual, targets["revenue"].money, targets["revenue"].percent) == (39_900, True, 40)
    assert targets["leads"].actual is None and targets["leads"].percent is None


def test_query_count_does_not_grow_with_reps():
    reps = [RepUserFactory() for _ in range(2)]
    for rep in reps:
        _activity(rep, when=NOW - timedelta(days=1))
    with CaptureQueriesContext(connection) as two:
        reps_numbers(rep_ids=[r.pk for r in reps], start=START, end=END)
    reps += [RepUserFactory() for _ in range(5)]
    for rep in reps[2:]:
        _activity(rep, when=NOW - timedelta(days=1))
    with CaptureQueriesContext(connection) as seven:
        numbers = reps_numbers(rep_ids=[r.pk for r in reps], start=START, end=END)
    assert all(n.calls == 3 for n in numbers.values())
    assert len(two) == len(seven) == 7


def test_replies_are_every_text_in_of_the_period_from_the_reps_leads():
    rep, other = RepUserFactory(), RepUserFactory()
    twice = LeadFactory(assigned_rep=rep)
    for when in (LAST_MONTH, NOW - timedelta(days=3), NOW - timedelta(days=1)):
        _reply(twice, when)
    last_month_only = LeadFactory(assigned_rep=rep)
    _reply(last_month_only, LAST_MONTH)
    _reply(LeadFactory(assigned_rep=other), NOW - timedelta(days=1))
    _at(Message, MessageFactory(lead=last_month_only, sent_by=rep), NOW - timedelta(days=1))  # out: no reply

    numbers = reps_numbers(rep_ids=[rep.pk, other.pk], start=START, end=END)
    assert (numbers[rep.pk].replies, numbers[other.pk].replies) == (2, 1)
    # An earlier month: a lead that texted since is read, only its texts of that month count.
    start, end = month_bounds(LAST_MONTH)
    assert reps_numbers(rep_ids=[rep.pk], start=start, end=end)[rep.pk].replies == 2
    # As the migration and the demo seed fill last_reply_at from the stored texts.
    Lead.objects.update(last_reply_at=None)
    reply_waiting_backfill()
    assert reps_numbers(rep_ids=[rep.pk], start=START, end=END)[rep.pk].replies == 2
