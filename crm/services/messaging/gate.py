"""One gate for every text: sequence steps, bulk actions and replies typed by a person.

`can_send` says yes, or why not, in words the admin shows wherever a send is refused.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from crm.models import CompanySettings, Lead
from crm.services.messaging.quiet_hours import Window, describe_local, is_allowed, next_opening, zones_for
from crm.services.timezones import time_zone_from_phone

SEQUENCE_BLOCKING_STATUSES = {
    Lead.Status.REPLIED: "the lead replied: a person takes over",
    Lead.Status.PAID: "the lead paid",
    Lead.Status.LOST: "the lead is marked lost",
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""
    retry_at: datetime | None = None  # for quiet hours: when the window next opens

    def __bool__(self) -> bool:
        return self.allowed


def lead_zones(lead: Lead) -> tuple[str, ...]:
    """The lead's zone; else its area code's; else every US zone (the narrowest window)."""
    return zones_for(lead.time_zone or time_zone_from_phone(lead.phone))


def send_window(company: CompanySettings, step=None) -> Window:
    window = Window(company.quiet_hours_start, company.quiet_hours_end).clamp()
    if step is not None:
        window = window.narrow(step.send_window_start, step.send_window_end)
    return window


def can_send(lead: Lead, at: datetime | None = None, *, automated: bool, sequence: bool = False,
             step=None, company: CompanySettings | None = None) -> Decision:
    """Whether a text may go to `lead` at `at`.

    automated: sent by the system (sequences, bulk actions), which needs recorded consent.
    sequence: a sequence step, which also stops for replies, payment, loss and hot leads.
    """
    at = at or timezone.now()
    company = company or CompanySettings.load()
    if lead.opted_out_at:
        return Decision(False, f"opted out on {lead.opted_out_at:%Y-%m-%d}: texts are blocked until they text START")
    if lead.number_flagged_at:
        return Decision(False, "the carrier reported this number cannot receive texts")
    if automated and not (lead.consent_at or lead.consent_source):
        return Decision(False, "no recorded consent for automated texts")
    if automated and lead.needs_human_at:
        return Decision(False, "the lead asked to stop in their own words: a person must review first")
    if sequence:
        if lead.status in SEQUENCE_BLOCKING_STATUSES:
            return Decision(False, SEQUENCE_BLOCKING_STATUSES[lead.status])
        if lead.priority == Lead.Priority.HOT:
            return Decision(False, "the lead is hot: a person takes over")
    zones = lead_zones(lead)
    window = send_window(company, step)
    if not is_allowed(at, zones, window):
        opening = next_opening(at, zones, window)
        where = describe_local(at, zones[0]) if len(zones) == 1 else "unknown time zone (narrowest US window)"
        return Decision(False, f"outside quiet hours ({window.label()} local; now {where})", retry_at=opening)
    return Decision(True)
