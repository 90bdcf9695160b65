"""One gate for every text: sequence steps, bulk actions and replies typed by a person.

`can_send` says yes, or why not: a `Decision` with a code for programs and words the admin
shows wherever a send is refused.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from crm.models import CompanySettings, Lead
from crm.services.messaging.quiet_hours import US_ZONES, Window, describe_local, is_allowed, next_opening
from crm.services.timezones import PRECISE_SOURCES, state_time_zones


class Refusal:
    """Decision codes. Sequences pause (a person takes over) on PAUSING ones, stop on the rest,
    and wait for the window on QUIET_HOURS."""

    OPTED_OUT = "opted_out"
    NUMBER_FLAGGED = "number_flagged"
    NO_CONSENT = "no_consent"
    NEEDS_HUMAN = "needs_human"
    REPLIED = "replied"
    PAID = "paid"
    LOST = "lost"
    HOT = "hot"
    QUIET_HOURS = "quiet_hours"
    STALE = "stale"
    PAUSING = frozenset({HOT, NEEDS_HUMAN})


SEQUENCE_BLOCKING_STATUSES = {
    Lead.Status.REPLIED: (Refusal.REPLIED, "the lead replied: a person takes over"),
    Lead.Status.PAID: (Refusal.PAID, "the lead paid"),
    Lead.Status.LOST: (Refusal.LOST, "the lead is marked lost"),
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    code: str = ""
    retry_at: datetime | None = None  # for quiet hours: when the window next opens

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


def lead_zones(lead: Lead) -> tuple[str, ...]:
    """The zones the lead may be in. One when its zone came from its coordinates, its address
    or a person; else every zone of its state; else every US zone. An area code or a state's
    majority zone never narrows this set (numbers move; states span zones)."""
    if lead.time_zone and lead.time_zone_source in PRECISE_SOURCES:
        return (lead.time_zone,)
    if (lead.country or "US") == "US":
        zones = state_time_zones(lead.state)
        if zones:
            return zones
    return US_ZONES


def send_window(company: CompanySettings, step=None) -> Window:
    window = Window(company.quiet_hours_start, company.quiet_hours_end).clamp()
    if step is not None:
        window = window.narrow(step.send_window_start, step.send_window_end)
    return window


def _where(at: datetime, lead: Lead, zones: tuple[str, ...]) -> str:
    if len(zones) == 1:
        return f"now {describe_local(at, zones[0])}"
    if zones == US_ZONES:
        return "time zone unknown: the narrowest window of every US zone"
    return f"time zone not known within {lead.state.upper()}: the narrowest window of {', '.join(zones)}"


def can_send(lead: Lead, at: datetime | None = None, *, automated: bool, sequence: bool = False,
             step=None, company: CompanySettings | None = None) -> Decision:
    """Whether a text may go to `lead` at `at`.

    automated: sent by the system (sequences, bulk actions), which needs recorded consent.
    sequence: a sequence step, which also stops for replies, payment, loss and hot leads.
    """
    at = at or timezone.now()
    company = company or CompanySettings.load()
    if lead.opted_out_at:
        return Decision(False, f"opted out on {lead.opted_out_at:%Y-%m-%d}: texts are blocked until they text START",
                        Refusal.OPTED_OUT)
    if lead.number_flagged_at:
        return Decision(False, "the carrier reported this number cannot receive texts", Refusal.NUMBER_FLAGGED)
    if automated and not (lead.consent_at or lead.consent_source):
        return Decision(False, "no recorded consent for automated texts", Refusal.NO_CONSENT)
    if automated and lead.needs_human_at:
        return Decision(False, "the lead asked to stop in their own words: a person must review first",
                        Refusal.NEEDS_HUMAN)
    if sequence:
        if lead.status in SEQUENCE_BLOCKING_STATUSES:
            code, reason = SEQUENCE_BLOCKING_STATUSES[lead.status]
            return Decision(False, reason, code)
        if lead.priority == Lead.Priority.HOT:
            return Decision(False, "the lead is hot: a person takes over", Refusal.HOT)
    zones = lead_zones(lead)
    window = send_window(company, step)
    if not is_allowed(at, zones, window):
        return Decision(False, f"outside quiet hours ({window.label()} local; {_where(at, lead, zones)})",
                        Refusal.QUIET_HOURS, retry_at=next_opening(at, zones, window))
    return ALLOWED
