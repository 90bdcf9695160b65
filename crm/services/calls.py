"""Click-to-call: a gate of its own, placing the call, its status callbacks, and outcomes.

A call rings the rep's own phone first with the company's caller id; when the rep answers,
Twilio fetches our TwiML, which dials the lead and bridges the two. The Call row is committed
before Twilio is asked (a crash never leaves a call nobody knows about), and its status only
moves forward. Without Twilio keys the offline backend's simulated callbacks are applied by
the worker, so the whole flow works on a laptop.

Two legs report: the call Twilio placed to the rep (its status callbacks: the Call's status and
end) and the lead's leg our <Dial><Number> places once the rep answered (callbacks to the same
URL with ?leg=lead, with ParentCallSid). The Call's answer (answered_at) and duration are the
lead's leg's: the rep's leg's CallDuration also counts the time the lead's phone rang.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Value, When
from django.urls import reverse
from django.utils import timezone

from crm.enqueue import call_simulation_enqueue
from crm.integrations.voice import LEAD_LEG, LEG_KEY, OfflineVoiceBackend, VoiceCallError, get_voice_backend
from crm.models import Call, CompanySettings, Lead, RepProfile, TimelineEvent, WebhookEvent
from crm.services.messaging.gate import Decision, lead_zones
from crm.services.messaging.quiet_hours import LEGAL_EARLIEST, LEGAL_LATEST, Window, describe_local, is_allowed
from crm.services.next_actions import lead_next_action_set
from crm.services.reply_waiting import call_talked, reply_waiting_answered

CALL_WINDOW = Window(LEGAL_EARLIEST, LEGAL_LATEST)  # 08:00-21:00 in the lead's zone
# A call still ringing or talking this recently blocks a second one (a double click).
ACTIVE_CALL_WINDOW = timedelta(minutes=30)
# An outcome is logged on the rep's latest call to the lead if it is this recent.
OUTCOME_CALL_WINDOW = timedelta(hours=12)
RETRY_AFTER_NO_ANSWER = timedelta(days=1)
RECORDING_NOTICE = "This call may be recorded for quality and training purposes."
# Where the status callback's URL names our Call, inside the stored payload.
CALL_ID_KEY = "crm_call_id"

RANK = {Call.Status.INITIATED: 0, Call.Status.RINGING: 1, Call.Status.IN_PROGRESS: 2, Call.Status.COMPLETED: 3,
        Call.Status.BUSY: 3, Call.Status.NO_ANSWER: 3, Call.Status.FAILED: 3, Call.Status.CANCELED: 3}
FINAL = frozenset(status for status, rank in RANK.items() if rank == 3)
ALIASES = {"queued": Call.Status.INITIATED, "answered": Call.Status.IN_PROGRESS}
ID = re.compile(r"[0-9]{1,19}")
MAX_ID = 2**63 - 1
DURATION = re.compile(r"[0-9]{1,7}")


class CallRefusal:
    """Decision codes of the call gate."""

    OPTED_OUT = "opted_out"
    DO_NOT_CALL = "do_not_call"
    OUTSIDE_HOURS = "outside_hours"
    IN_PROGRESS = "in_progress"
    NO_REP_PHONE = "no_rep_phone"
    NO_CALLER_ID = "no_caller_id"
    PROVIDER_ERROR = "provider_error"


class CallRefused(Exception):
    """The call was not placed; `decision` says why (with a code)."""

    def __init__(self, decision: Decision):
        super().__init__(decision.reason)
        self.decision = decision


class OutcomeInvalid(ValueError):
    """Bad input for an outcome: nothing was changed."""


def can_call(lead: Lead, at: datetime | None = None) -> Decision:
    """Whether a person may call `lead` at `at`: never after an opt-out or a wrong number, and
    only 08:00-21:00 in every zone the lead may be in (a lead placed only by its state must be
    inside the window in all of that state's zones)."""
    at = at or timezone.now()
    if lead.opted_out_at:
        return Decision(False, f"opted out on {lead.opted_out_at:%Y-%m-%d}: the lead must not be contacted",
                        CallRefusal.OPTED_OUT)
    last_outcome = Call.objects.filter(lead=lead).exclude(outcome="").values_list("outcome", flat=True).first()
    if last_outcome == Call.Outcome.WRONG_NUMBER:
        return Decision(False, "do not call: the last call reached a wrong number", CallRefusal.DO_NOT_CALL)
    zones = lead_zones(lead)
    if not is_allowed(at, zones, CALL_WINDOW):
        where = describe_local(at, zones[0]) if len(zones) == 1 else f"time zone not certain: {', '.join(zones)}"
        return Decision(False, f"outside calling hours ({CALL_WINDOW.label()} in the lead's time zone; now {where})",
                        CallRefusal.OUTSIDE_HOURS)
    busy_since = at - ACTIVE_CALL_WINDOW
    if Call.objects.filter(lead=lead, created_at__gte=busy_since).exclude(status__in=FINAL).exists():
        return Decision(False, "a call to this lead is already in progress", CallRefusal.IN_PROGRESS)
    return Decision(True)


def call_caller_id(company: CompanySettings) -> str:
    """The number leads see: the company's caller id, else its first sender number."""
    # Read here rather than through messaging.sending, which imports the webhook handlers.
    senders = (number.strip() for number in company.sender_numbers.splitlines())
    return company.call_caller_id.strip() or next((number for number in senders if number), "")


def rep_phone(rep) -> str:
    return RepProfile.objects.filter(user=rep).values_list("phone", flat=True).first() or ""


def _call_by_id(call_id, calls=None) -> Call | None:
    """The call with this id; None for anything that cannot be one (a URL can hold any number)."""
    text = str(call_id or "")
    if not ID.fullmatch(text) or int(text) > MAX_ID:
        return None
    return (calls if calls is not None else Call.objects.all()).filter(pk=int(text)).first()


def _public_url(name: str, call_id: int) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse(name, args=[call_id])


def call_start(*, lead: Lead, rep, now: datetime | None = None) -> Call:
    """Ring `rep`'s own phone; when the rep answers, Twilio dials the lead (call_bridge_plan).

    The gate is read with the lead's row locked and the Call committed before Twilio is asked,
    so an opt-out committed before this call is honoured and a crash leaves a record. Raises
    CallRefused (nothing placed; a provider error marks the Call failed) with a coded reason."""
    now = now or timezone.now()
    backend = get_voice_backend()
    company = CompanySettings.load()
    phone, caller_id = rep_phone(rep), call_caller_id(company)
    if not phone:
        raise CallRefused(Decision(False, "your rep profile has no phone number to ring first",
                                   CallRefusal.NO_REP_PHONE))
    if not caller_id and not backend.simulated:
        raise CallRefused(Decision(False, "no caller id: set one in Company settings", CallRefusal.NO_CALLER_ID))
    with transaction.atomic():
        locked = Lead.objects.select_for_update().get(pk=lead.pk)
        decision = can_call(locked, now)
        if not decision:
            raise CallRefused(decision)
        call = Call.objects.create(lead=locked, rep=rep, status=Call.Status.INITIATED, from_number=caller_id,
                                   recorded=company.call_recording_enabled)
        TimelineEvent.objects.create(lead=locked, kind=TimelineEvent.Kind.CALL, actor=rep,
                                     data={"call": call.pk, "status": call.status})
        Lead.objects.filter(pk=locked.pk).update(
            last_contacted_at=now, updated_at=now,
            status=Case(When(status=Lead.Status.NEW, then=Value(Lead.Status.CONTACTED)), default="status"))
    try:
        result = backend.create(to=phone, from_=caller_id, twiml_url=_public_url("twilio_voice_twiml", call.pk),
                                status_callback=_public_url("twilio_voice_status", call.pk))
    except VoiceCallError as exc:
        Call.objects.filter(pk=call.pk).exclude(status__in=FINAL).update(
            status=Call.Status.FAILED, ended_at=timezone.now(), notes=str(exc))
        raise CallRefused(Decision(False, str(exc), CallRefusal.PROVIDER_ERROR)) from exc
    # A status callback that beat this answer may have recorded the SID already.
    Call.objects.filter(pk=call.pk, provider_sid__isnull=True).update(provider_sid=result.sid)
    call.refresh_from_db()
    if backend.simulated:
        call_simulation_enqueue(call.pk)
    return call


def call_simulate(*, call_id: int) -> list[str]:
    """Apply the offline backend's callbacks (ringing, answered, completed) to a simulated call."""
    call = _call_by_id(call_id)
    if call is None or not call.provider_sid:
        return ["ignored: no such call"]
    results = []
    for payload in OfflineVoiceBackend().simulated_callbacks(sid=call.provider_sid):
        results.append(_status_apply(call=call, payload=payload, now=timezone.now()))
        call.refresh_from_db()
    return results


@dataclass(frozen=True)
class BridgePlan:
    dial: bool
    lead_phone: str = ""
    caller_id: str = ""
    record: bool = False
    refusal: str = ""  # what the rep hears when the lead is not dialled


def call_bridge_plan(*, call_id: int) -> BridgePlan:
    """What the TwiML says when the rep answers: dial the lead with the caller id (recorded,
    with a notice to the lead, if the company records), or tell the rep why not. An opt-out
    committed since the call started is honoured here too."""
    call = _call_by_id(call_id, Call.objects.select_related("lead"))
    if call is None or call.status in FINAL:
        return BridgePlan(dial=False, refusal="This call has ended.")
    if call.lead.opted_out_at:
        return BridgePlan(dial=False, refusal="The lead has opted out and cannot be called.")
    return BridgePlan(dial=True, lead_phone=call.lead.phone, caller_id=call.from_number, record=call.recorded)


def _final_event(call: Call, status: str, duration: int) -> None:
    """The call's "ended" timeline entry: written once, brought up to date by later news of the
    lead's leg (its talk time, or that it never answered)."""
    data = {"call": call.pk, "status": status, "duration_seconds": duration}
    ended = TimelineEvent.objects.filter(lead_id=call.lead_id, kind=TimelineEvent.Kind.CALL, data__call=call.pk,
                                         data__has_key="duration_seconds")
    if not ended.update(data=data):
        TimelineEvent.objects.create(lead_id=call.lead_id, kind=TimelineEvent.Kind.CALL, actor_id=call.rep_id,
                                     data=data)


def _rep_leg_apply(*, call: Call, status: str, sid: str, now: datetime) -> str:
    """The call Twilio placed, to the rep's phone: its status moves forward only. Its answer is
    the rep's and its CallDuration counts the lead's ringing too, so neither is the call's: the
    lead's leg says when the lead answered and how long they talked."""
    if call.status in FINAL or RANK[status] <= RANK[call.status]:
        return f"ignored: {call.status} does not move back to {status}"
    updates: dict = {"status": status}
    if sid and not call.provider_sid:
        updates["provider_sid"] = sid
    if status in FINAL:
        updates["ended_at"] = now
    Call.objects.filter(pk=call.pk).update(**updates)
    if status in FINAL:
        _final_event(call, status, call.duration_seconds)
    return f"{call.status} -> {status}"


def _lead_leg_apply(*, call: Call, status: str, payload: dict, now: datetime) -> str:
    """The lead's leg (the <Number> our TwiML dials, a child of the rep's call): its answer is
    the call's answer, its CallDuration the talk time. A leg that never answered (busy, no
    answer, failed, canceled) ends the call with that status, even after the rep's leg said
    "completed"."""
    parent = payload.get("ParentCallSid", "")
    if call.provider_sid and parent and parent != call.provider_sid:
        return f"ignored: {parent} is not this call's SID"
    updates: dict = {}
    if status == Call.Status.IN_PROGRESS:
        answered_at = call.answered_at or now
        updates["answered_at"] = answered_at
        if RANK[call.status] < RANK[status]:
            updates["status"] = status
    elif status == Call.Status.COMPLETED:
        raw = str(payload.get("CallDuration") or "")
        duration = int(raw) if DURATION.fullmatch(raw) else 0
        answered_at = call.answered_at or (now - timedelta(seconds=duration) if duration else None)
        updates.update(duration_seconds=duration, answered_at=answered_at)
    elif status in FINAL:  # the lead never answered
        answered_at = None
        if call.answered_at is not None or call.duration_seconds:
            return f"ignored: the lead's leg was answered, not {status}"
        if call.status not in FINAL or call.status == Call.Status.COMPLETED:
            updates.update(status=status, ended_at=call.ended_at or now)
    else:
        return f"ignored: the lead's leg {status}"
    if not updates:
        return f"ignored: the lead's leg {status} changes nothing"
    Call.objects.filter(pk=call.pk).update(**updates)
    if answered_at is not None:
        reply_waiting_answered(lead_id=call.lead_id, at=answered_at)  # the rep's queue: a reply answered
    final_status = updates.get("status", call.status)
    if final_status in FINAL and (call.status in FINAL or status != Call.Status.COMPLETED):
        _final_event(call, final_status, updates.get("duration_seconds", call.duration_seconds))
    return f"lead {status}"


def _status_apply(*, call: Call, payload: dict, now: datetime) -> str:
    status = ALIASES.get(payload.get("CallStatus", ""), payload.get("CallStatus", ""))
    if status not in RANK:
        return f"ignored: unknown status {status!r}"
    sid = payload.get("CallSid", "")
    lead_leg = payload.get(LEG_KEY) == LEAD_LEG
    if not lead_leg and call.provider_sid and sid and call.provider_sid != sid:
        return f"ignored: {sid} is not this call's SID"
    with transaction.atomic():
        # One callback at a time per call: the two legs' callbacks may arrive together.
        call = Call.objects.select_for_update().get(pk=call.pk)
        if lead_leg:
            return _lead_leg_apply(call=call, status=status, payload=payload, now=now)
        return _rep_leg_apply(call=call, status=status, sid=sid, now=now)


def call_status_apply(*, webhook_event: WebhookEvent) -> str:
    """Apply one stored voice status callback (forward only: a completed call never rings
    again); returns what happened. The callback URL named our Call, so a callback that beats
    the SID's write still finds it."""
    payload = webhook_event.payload
    call = _call_by_id(payload.get(CALL_ID_KEY))
    if call is None:
        return "ignored: no such call"
    return _status_apply(call=call, payload=payload, now=timezone.now())


# Outcomes a rep logs from the lead page, and what each does to the lead.
OUTCOME_STATUS = {Call.Outcome.NOT_INTERESTED: Lead.Status.LOST, Call.Outcome.SOLD: Lead.Status.NEGOTIATING}
OUTCOME_NEXT_ACTION = {
    Call.Outcome.NO_ANSWER: ("Call again", RETRY_AFTER_NO_ANSWER),
    Call.Outcome.VOICEMAIL: ("Call again", RETRY_AFTER_NO_ANSWER),
    Call.Outcome.SOLD: ("Send the checkout link", timedelta(0)),
}


@transaction.atomic
def call_outcome_log(*, lead: Lead, rep, outcome: str, callback_at: datetime | None = None, notes: str = "",
                     next_action: str = "", next_action_at: datetime | None = None,
                     now: datetime | None = None) -> Call:
    """Log how the rep's latest call to `lead` went (a call made from the tel: link gets a Call
    of its own), with the lead's status and next action: callback -> due at the callback time;
    not interested -> lost, nothing planned; won -> negotiating, send the checkout link now;
    no answer / voicemail -> call again tomorrow unless the rep says otherwise.
    Raises OutcomeInvalid (or NextActionInvalid), writing nothing."""
    now = now or timezone.now()
    if outcome not in Call.Outcome.values or outcome == Call.Outcome.NONE:
        raise OutcomeInvalid(f"Unknown outcome {outcome!r}")
    if outcome == Call.Outcome.CALLBACK:
        if callback_at is None or callback_at <= now:
            raise OutcomeInvalid("A callback needs a time in the future")
        next_action, next_action_at = next_action or "Call back", callback_at
    elif outcome == Call.Outcome.NOT_INTERESTED:
        next_action, next_action_at = "", None
    elif outcome in OUTCOME_NEXT_ACTION and not next_action:
        next_action, after = OUTCOME_NEXT_ACTION[outcome]
        next_action_at = next_action_at or now + after
    call = (Call.objects.select_for_update().filter(lead=lead, rep=rep, outcome="",
                                                    created_at__gte=now - OUTCOME_CALL_WINDOW)
            .order_by("-created_at", "-id").first())
    if call is None:  # dialled by hand from the tel: link
        call = Call(lead=lead, rep=rep, status=Call.Status.COMPLETED, ended_at=now)
    call.outcome, call.callback_at = outcome, callback_at if outcome == Call.Outcome.CALLBACK else None
    call.notes = "\n".join(part for part in (call.notes, notes.strip()) if part)
    call.save()
    TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.CALL, actor=rep, data={
        "call": call.pk, "outcome": outcome, "callback_at": call.callback_at.isoformat() if call.callback_at else None})
    if call_talked(outcome):  # the rep's queue: they talked, so a reply before the call is answered
        reply_waiting_answered(lead_id=lead.pk, at=call.answered_at or call.created_at or now)
    status = OUTCOME_STATUS.get(outcome, Lead.Status.CONTACTED if lead.status == Lead.Status.NEW else "")
    lead_next_action_set(lead=lead, actor=rep, status=status, next_action=next_action, next_action_at=next_action_at,
                         callback=outcome == Call.Outcome.CALLBACK)
    return call
