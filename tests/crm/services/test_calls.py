"""The call gate, placing a call, status callbacks moving forward only, and outcomes."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from crm.integrations.voice import LEAD_LEG, LEG_KEY, SIMULATED_DURATION_SECONDS
from crm.models import Call, Lead, TimelineEvent, WebhookEvent
from crm.services.calls import (
    CALL_ID_KEY,
    CallRefusal,
    CallRefused,
    OutcomeInvalid,
    call_bridge_plan,
    call_outcome_log,
    call_start,
    call_status_apply,
    can_call,
)
from crm.services.next_actions import NextActionInvalid, lead_next_action_set
from tests import factories as f

# 15:00 UTC = 09:00 in Chicago (CST, UTC-6), 10:00 in New York.
CHICAGO_MORNING = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(CHICAGO_MORNING, tick=False) as traveller:
        yield traveller


@pytest.fixture
def lead(db, rep_user):
    f.CompanySettingsFactory(sender_numbers="+15125550100")
    return f.LeadFactory(assigned_rep=rep_user, state="IL", time_zone="")


def _event(call, status, sid=None, **extra):
    return WebhookEvent.objects.create(
        source=WebhookEvent.Source.TWILIO_VOICE, event_id=f"{sid or call.provider_sid}:{status}", event_type=status,
        payload={"CallSid": sid or call.provider_sid, "CallStatus": status, CALL_ID_KEY: str(call.pk), **extra})


# --- the gate ------------------------------------------------------------------------------


def test_gate_allows_a_normal_lead_inside_the_window(lead, clock):
    assert can_call(lead)


def test_gate_refuses_an_opted_out_lead(lead, clock):
    lead.opted_out_at = timezone.now() - timedelta(days=2)

    decision = can_call(lead)

    assert not decision
    assert decision.code == CallRefusal.OPTED_OUT
    assert "opted out" in decision.reason


def test_gate_refuses_a_lead_whose_last_call_reached_a_wrong_number(lead, clock):
    f.CallFactory(lead=lead, outcome=Call.Outcome.WRONG_NUMBER)

    assert can_call(lead).code == CallRefusal.DO_NOT_CALL


@pytest.mark.parametrize(("utc", "allowed"), [
    (datetime(2026, 12, 2, 13, 59, tzinfo=UTC), False),  # 07:59 in Chicago
    (datetime(2026, 12, 2, 14, 0, tzinfo=UTC), True),  # 08:00
    (datetime(2026, 12, 3, 2, 59, tzinfo=UTC), True),  # 20:59
    (datetime(2026, 12, 3, 3, 0, tzinfo=UTC), False),  # 21:00
])
def test_gate_calls_only_from_8_to_21_in_the_leads_zone(lead, utc, allowed):
    with time_machine.travel(utc, tick=False):
        decision = can_call(lead)
    assert bool(decision) is allowed
    if not allowed:
        assert decision.code == CallRefusal.OUTSIDE_HOURS
        assert "08:00-21:00" in decision.reason and "America/Chicago" in decision.reason


def test_gate_uses_every_zone_a_state_only_lead_may_be_in(db, rep_user):
    # Texas spans Central and Mountain time: 08:30 in Chicago is 07:30 in Denver.
    lead = f.LeadFactory(assigned_rep=rep_user, state="TX", time_zone="")
    with time_machine.travel(datetime(2026, 12, 2, 14, 30, tzinfo=UTC), tick=False):
        assert can_call(lead).code == CallRefusal.OUTSIDE_HOURS
    with time_machine.travel(datetime(2026, 12, 2, 15, 30, tzinfo=UTC), tick=False):
        assert can_call(lead)


# --- placing a call (offline backend) -----------------------------------------------------


def test_call_start_offline_rings_then_simulates_the_whole_call(lead, rep_user, clock):
    call = call_start(lead=lead, rep=rep_user)

    call.refresh_from_db()
    assert call.rep == rep_user and call.from_number == "+15125550100"
    assert call.provider_sid.startswith("CA")
    # The worker (synchronous in tests) played ringing -> answered -> the lead's leg -> completed.
    assert call.status == Call.Status.COMPLETED
    assert call.duration_seconds == SIMULATED_DURATION_SECONDS  # the talk time, not the ringing
    assert call.answered_at is not None and call.ended_at is not None
    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED and lead.last_contacted_at == CHICAGO_MORNING
    kinds = list(TimelineEvent.objects.filter(lead=lead, kind=TimelineEvent.Kind.CALL).values_list("data", flat=True))
    assert {"call": call.pk, "status": "initiated"} in kinds
    assert {"call": call.pk, "status": "completed", "duration_seconds": call.duration_seconds} in kinds


def test_call_start_refuses_an_opted_out_lead_and_stores_nothing(lead, rep_user, clock):
    Lead.objects.filter(pk=lead.pk).update(opted_out_at=timezone.now())

    with pytest.raises(CallRefused) as refused:
        call_start(lead=lead, rep=rep_user)  # the stale instance: the gate reads the locked row

    assert refused.value.decision.code == CallRefusal.OPTED_OUT
    assert not Call.objects.exists()
    assert not TimelineEvent.objects.filter(kind=TimelineEvent.Kind.CALL).exists()


def test_call_start_refuses_at_night_in_the_leads_zone(lead, rep_user):
    with time_machine.travel(datetime(2026, 12, 3, 4, 0, tzinfo=UTC), tick=False):  # 22:00 in Chicago
        with pytest.raises(CallRefused) as refused:
            call_start(lead=lead, rep=rep_user)
    assert refused.value.decision.code == CallRefusal.OUTSIDE_HOURS
    assert not Call.objects.exists()


def test_call_start_needs_the_reps_phone(lead, rep_user, clock):
    rep_user.rep_profile.phone = ""
    rep_user.rep_profile.save()

    with pytest.raises(CallRefused) as refused:
        call_start(lead=lead, rep=rep_user)
    assert refused.value.decision.code == CallRefusal.NO_REP_PHONE


def test_a_second_click_while_a_call_rings_is_refused(lead, rep_user, clock):
    f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.RINGING)

    with pytest.raises(CallRefused) as refused:
        call_start(lead=lead, rep=rep_user)
    assert refused.value.decision.code == CallRefusal.IN_PROGRESS


# --- status callbacks ------------------------------------------------------------------


LEAD_LEG_SID = "CA" + "1" * 32


def _lead_leg(call, status, **extra):
    """A callback of the lead's leg: the child call our <Dial><Number> placed (?leg=lead)."""
    return WebhookEvent.objects.create(
        source=WebhookEvent.Source.TWILIO_VOICE, event_id=f"{LEAD_LEG_SID}:{status}", event_type=status,
        payload={"CallSid": LEAD_LEG_SID, "ParentCallSid": call.provider_sid, "CallStatus": status,
                 CALL_ID_KEY: str(call.pk), LEG_KEY: LEAD_LEG, **extra})


def _ended_events(call):
    return [data for data in TimelineEvent.objects.filter(kind=TimelineEvent.Kind.CALL).values_list("data", flat=True)
            if "duration_seconds" in data]


def test_duration_is_the_talk_time_from_when_the_lead_answered(lead, rep_user, clock):
    # The rep answers at +5 s, the lead's phone rings 12 s, they talk 60 s and the lead hangs
    # up; the rep's leg (+5 s to +78 s) reports 73 s, the lead's ringing included.
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.INITIATED, duration_seconds=0)

    assert call_status_apply(webhook_event=_event(call, "ringing")) == "initiated -> ringing"
    clock.shift(5)
    call_status_apply(webhook_event=_event(call, "in-progress"))
    clock.shift(12)
    call_status_apply(webhook_event=_lead_leg(call, "in-progress"))
    clock.shift(60)
    call_status_apply(webhook_event=_lead_leg(call, "completed", CallDuration="60"))
    clock.shift(1)
    call_status_apply(webhook_event=_event(call, "completed", CallDuration="73"))

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED
    assert call.answered_at == CHICAGO_MORNING + timedelta(seconds=17)  # the lead's answer, not the rep's
    assert call.duration_seconds == 60
    assert call.ended_at == CHICAGO_MORNING + timedelta(seconds=78)
    assert _ended_events(call) == [{"call": call.pk, "status": "completed", "duration_seconds": 60}]


def test_the_lead_legs_end_arriving_after_the_reps_still_sets_the_talk_time(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.IN_PROGRESS, duration_seconds=0)
    call_status_apply(webhook_event=_event(call, "completed", CallDuration="75"))
    call.refresh_from_db()
    assert (call.status, call.duration_seconds, call.answered_at) == (Call.Status.COMPLETED, 0, None)

    call_status_apply(webhook_event=_lead_leg(call, "completed", CallDuration="58"))

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED and call.duration_seconds == 58
    assert call.answered_at == CHICAGO_MORNING - timedelta(seconds=58)  # its end less its talk time
    assert _ended_events(call) == [{"call": call.pk, "status": "completed", "duration_seconds": 58}]


@pytest.mark.parametrize("lead_first", [True, False])
def test_a_lead_who_never_answers_makes_a_no_answer_call(lead, rep_user, clock, lead_first):
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.IN_PROGRESS, duration_seconds=0)
    callbacks = [_lead_leg(call, "no-answer"), _event(call, "completed", CallDuration="31")]
    for event in callbacks if lead_first else reversed(callbacks):
        call_status_apply(webhook_event=event)

    call.refresh_from_db()
    assert (call.status, call.duration_seconds, call.answered_at) == (Call.Status.NO_ANSWER, 0, None)
    assert call.ended_at is not None
    assert _ended_events(call) == [{"call": call.pk, "status": "no-answer", "duration_seconds": 0}]


def test_the_reps_leg_alone_is_no_conversation(lead, rep_user, clock):
    # The TwiML dialled nobody (say, the lead opted out meanwhile): the rep's leg is all there is.
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.INITIATED, duration_seconds=0)
    call_status_apply(webhook_event=_event(call, "in-progress"))
    call_status_apply(webhook_event=_event(call, "completed", CallDuration="33"))

    call.refresh_from_db()
    assert (call.status, call.duration_seconds, call.answered_at) == (Call.Status.COMPLETED, 0, None)


def test_a_lead_leg_of_another_call_is_ignored(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.IN_PROGRESS, duration_seconds=0)
    event = _lead_leg(call, "completed", CallDuration="40")
    event.payload["ParentCallSid"] = "CA" + "9" * 32
    event.save()

    assert call_status_apply(webhook_event=event).startswith("ignored")
    call.refresh_from_db()
    assert call.duration_seconds == 0


def test_status_never_moves_back_from_completed(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.INITIATED, duration_seconds=0)
    call_status_apply(webhook_event=_event(call, "completed", CallDuration="33"))

    for late in ("ringing", "in-progress", "initiated", "no-answer"):
        assert call_status_apply(webhook_event=_event(call, late)).startswith("ignored")

    call.refresh_from_db()
    assert call.status == Call.Status.COMPLETED and call.ended_at == CHICAGO_MORNING


def test_status_callback_that_beats_the_sid_records_it(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.INITIATED, provider_sid=None)
    sid = "CA" + "e" * 32

    call_status_apply(webhook_event=_event(call, "ringing", sid=sid))

    call.refresh_from_db()
    assert call.provider_sid == sid and call.status == Call.Status.RINGING


def test_status_callback_with_another_calls_sid_is_ignored(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.INITIATED)

    result = call_status_apply(webhook_event=_event(call, "completed", sid="CA" + "f" * 32))

    assert result.startswith("ignored")
    call.refresh_from_db()
    assert call.status == Call.Status.INITIATED


def test_bridge_plan_dials_the_lead_with_the_caller_id_and_honours_a_late_opt_out(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, status=Call.Status.RINGING, from_number="+15125550100",
                         recorded=True)

    plan = call_bridge_plan(call_id=call.pk)
    assert (plan.dial, plan.lead_phone, plan.caller_id, plan.record) == (True, lead.phone, "+15125550100", True)

    Lead.objects.filter(pk=lead.pk).update(opted_out_at=timezone.now())
    assert not call_bridge_plan(call_id=call.pk).dial


# --- outcomes ----------------------------------------------------------------------------


def test_callback_outcome_sets_the_next_action_and_its_time(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, outcome="")
    tomorrow_ten = CHICAGO_MORNING + timedelta(days=1, hours=1)

    logged = call_outcome_log(lead=lead, rep=rep_user, outcome=Call.Outcome.CALLBACK, callback_at=tomorrow_ten)

    assert logged.pk == call.pk
    call.refresh_from_db()
    lead.refresh_from_db()
    assert call.outcome == Call.Outcome.CALLBACK and call.callback_at == tomorrow_ten
    assert (lead.next_action, lead.next_action_at) == ("Call back", tomorrow_ten)
    assert TimelineEvent.objects.filter(lead=lead, kind=TimelineEvent.Kind.NOTE,
                                        data__next_action="Call back").exists()


def test_callback_without_a_future_time_changes_nothing(lead, rep_user, clock):
    call = f.CallFactory(lead=lead, rep=rep_user, outcome="")

    for when in (None, CHICAGO_MORNING - timedelta(minutes=1)):
        with pytest.raises(OutcomeInvalid):
            call_outcome_log(lead=lead, rep=rep_user, outcome=Call.Outcome.CALLBACK, callback_at=when)

    call.refresh_from_db()
    lead.refresh_from_db()
    assert call.outcome == "" and lead.next_action_at is None


def test_not_interested_marks_the_lead_lost_with_nothing_planned(lead, rep_user, clock):
    lead_next_action_set(lead=lead, actor=rep_user, next_action="Call", next_action_at=CHICAGO_MORNING)

    call_outcome_log(lead=lead, rep=rep_user, outcome=Call.Outcome.NOT_INTERESTED)

    lead.refresh_from_db()
    assert lead.status == Lead.Status.LOST and lead.next_action == "" and lead.next_action_at is None
    assert TimelineEvent.objects.filter(lead=lead, kind=TimelineEvent.Kind.STATUS_CHANGE, data={"to": "LOST"}).exists()


def test_won_moves_to_negotiating_and_plans_the_checkout_link(lead, rep_user, clock):
    call_outcome_log(lead=lead, rep=rep_user, outcome=Call.Outcome.SOLD)

    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEGOTIATING
    assert (lead.next_action, lead.next_action_at) == ("Send the checkout link", CHICAGO_MORNING)
    # Dialled from the tel: link (no call placed here): the outcome gets a Call of its own.
    assert Call.objects.get(lead=lead).outcome == Call.Outcome.SOLD


def test_no_answer_plans_another_try_tomorrow(lead, rep_user, clock):
    call_outcome_log(lead=lead, rep=rep_user, outcome=Call.Outcome.NO_ANSWER)

    lead.refresh_from_db()
    assert lead.status == Lead.Status.CONTACTED
    assert (lead.next_action, lead.next_action_at) == ("Call again", CHICAGO_MORNING + timedelta(days=1))


def test_unknown_outcome_is_refused(lead, rep_user, clock):
    with pytest.raises(OutcomeInvalid):
        call_outcome_log(lead=lead, rep=rep_user, outcome="maybe")
    assert not Call.objects.exists()


def test_next_action_refuses_paid_and_a_time_without_an_action(lead, rep_user, clock):
    with pytest.raises(NextActionInvalid):
        lead_next_action_set(lead=lead, actor=rep_user, status=Lead.Status.PAID, next_action="", next_action_at=None)
    with pytest.raises(NextActionInvalid):
        lead_next_action_set(lead=lead, actor=rep_user, next_action="", next_action_at=CHICAGO_MORNING)
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW and lead.next_action_at is None


def test_a_twilio_refusal_marks_the_call_failed_and_says_why(lead, rep_user, clock, settings):
    from fakes.twilio_voice_server import FakeTwilioVoiceServer

    with FakeTwilioVoiceServer(account_sid="AC" + "2" * 32, auth_token="t") as fake:
        fake.fail_with = (400, 21215)  # geographic permission for the rep's number missing
        settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = fake.account_sid, fake.auth_token
        settings.TWILIO_API_BASE_URL = fake.base_url
        with pytest.raises(CallRefused) as refused:
            call_start(lead=lead, rep=rep_user)

        sent = fake.requests[0].form
    assert refused.value.decision.code == CallRefusal.PROVIDER_ERROR and "21215" in refused.value.decision.reason
    call = Call.objects.get(lead=lead)
    assert call.status == Call.Status.FAILED and call.ended_at is not None and "21215" in call.notes
    assert sent["To"] == rep_user.rep_profile.phone and sent["From"] == "+15125550100"
    assert sent["Url"].endswith(f"/webhooks/twilio/voice/twiml/{call.pk}/")
    assert sent["StatusCallback"].endswith(f"/webhooks/twilio/voice/status/{call.pk}/")
