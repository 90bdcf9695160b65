"""What follows once a text has an outcome: the lead, its timeline, its sequence step and the
people to tell. Every path that ends a text (the sender, the reconciler, status callbacks)
calls these, inside the transaction that records the outcome."""

from crm.integrations.sms import OPT_OUT_ERROR_CODE
from crm.models import Lead, Message, Notification, SequenceStep
from crm.services.enrollments import (
    _ASK,
    enrollment_halt,
    enrollment_step_ended,
    enrollment_step_retry,
    step_following,
)
from crm.services.messaging import sendrows
from crm.services.messaging.gate import Decision, Refusal, lead_zones, send_window
from crm.services.messaging.optout import lead_flag_number, lead_opt_out
from crm.services.messaging.quiet_hours import spread
from crm.services.notifications import notify

# Carrier answers that mean this number will never take a text from us (a subset of the
# permanent codes: blocked-as-spam 30004/30007 says nothing about the number itself).
NUMBER_DEAD_CODES = frozenset({"21211", "21214", "21612", "21614", "30003", "30005", "30006"})


def message_sent(*, message: Message, step: SequenceStep | None, now, following=_ASK, sid: str | None = None,
                 status: str = "", error_code: str = "") -> None:
    """The provider took it: its SID and status (when `sid` is given), the lead contacted, the
    timeline says so, the step is done, all written at once. (`following`: the step after
    `step`, when the caller knows it.)"""
    move = None
    if message.enrollment_id and step is not None:
        move = (message.enrollment_id, step.pk, step_following(step) if following is _ASK else following)
    sendrows.sent_record(message_id=message.pk, sid=sid, status=status, error_code=error_code, lead_id=message.lead_id,
                         actor_id=message.sent_by_id, move=move, now=now,
                         timeline={"message": message.pk, "sid": sid or message.provider_sid,
                                   "step": message.sequence_step_id, "body": message.body[:160]})


def carrier_error_apply(*, lead: Lead, code: str, now) -> None:
    """A carrier error code about the recipient: 21610 opts the lead out, dead numbers are flagged."""
    if code == OPT_OUT_ERROR_CODE:
        lead_opt_out(lead=lead, source=f"carrier error {code}", now=now)
    elif code in NUMBER_DEAD_CODES:
        lead_flag_number(lead_id=lead.pk, code=code, now=now)


def message_failed(*, message: Message, lead: Lead, step: SequenceStep | None, code: str, text: str, now) -> None:
    """It did not go (or the carrier refused it): act on the code, tell a person, end the step."""
    carrier_error_apply(lead=lead, code=code, now=now)
    notify(lead=lead, kind=Notification.Kind.SEND_FAILED, text=f"Text to {lead.business_name} failed: {text}",
           recipients=[message.sent_by] if message.sent_by_id and message.sent_by.is_active else None)
    if message.enrollment_id and step is not None:
        enrollment_step_ended(enrollment_id=message.enrollment_id, step=step, outcome="failed", reason=text, now=now)


def message_canceled(*, message: Message, lead: Lead, step: SequenceStep | None, decision: Decision, company,
                     now) -> None:
    """The gate said no at send time. A sequence step waits for the window, pauses or stops
    with the reason, or is skipped when stale; a person's or a bulk text just stays cancelled."""
    if not (message.enrollment_id and step is not None):
        return
    if decision.code == Refusal.QUIET_HOURS and decision.retry_at is not None:
        zones = lead_zones(lead)
        at = spread(decision.retry_at, f"{message.enrollment_id}:{step.pk}", zones, send_window(company, step))
        enrollment_step_retry(enrollment_id=message.enrollment_id, step=step, at=at)
    elif decision.code == Refusal.STALE:
        enrollment_step_ended(enrollment_id=message.enrollment_id, step=step, outcome="skipped",
                              reason=decision.reason, now=now)
    else:
        enrollment_halt(enrollment_id=message.enrollment_id, reason=decision.reason,
                        pause=decision.code in Refusal.PAUSING, now=now)
