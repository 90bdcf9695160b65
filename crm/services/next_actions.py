"""What a rep does next with a lead, and when: the queue leaves the lead out until then."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from crm.models import Lead, TimelineEvent
from crm.services.leads import lead_update

NEXT_ACTION_MAX_CHARS = 200
# Statuses a person may set by hand; PAID is written by billing when the money arrives.
HAND_SET_STATUSES = tuple(status for status in Lead.Status.values if status != Lead.Status.PAID)


class NextActionInvalid(ValueError):
    """Bad input for a status or next action: nothing was changed."""


@transaction.atomic
def lead_next_action_set(*, lead: Lead, actor, next_action: str, next_action_at: datetime | None,
                         status: str = "") -> Lead:
    """Set the lead's next action and its due time (both empty: nothing planned) and, when
    given, its status. Each change leaves a timeline event (status_change, and a note naming
    the next action); an unchanged value writes nothing. Raises NextActionInvalid, writing
    nothing, for an unknown or billing-only status, a text too long, or a due time without
    an action."""
    next_action = (next_action or "").strip()
    if status and status not in HAND_SET_STATUSES:
        raise NextActionInvalid(f"{status!r} cannot be set by hand")
    if len(next_action) > NEXT_ACTION_MAX_CHARS:
        raise NextActionInvalid(f"The next action is longer than {NEXT_ACTION_MAX_CHARS} characters")
    if next_action_at is not None and not next_action:
        raise NextActionInvalid("Say what the next action is, or leave its time empty")
    if next_action_at is not None and timezone.is_naive(next_action_at):
        raise NextActionInvalid("The due time needs a time zone")
    stored = lead_update(lead=lead, data={"status": status}, actor=actor) if status else (
        Lead.objects.select_for_update().get(pk=lead.pk))
    if (stored.next_action, stored.next_action_at) != (next_action, next_action_at):
        stored.next_action, stored.next_action_at = next_action, next_action_at
        stored.save(update_fields=["next_action", "next_action_at", "updated_at"])
        TimelineEvent.objects.create(lead=stored, kind=TimelineEvent.Kind.NOTE, actor=actor, data={
            "next_action": next_action, "due": next_action_at.isoformat() if next_action_at else None})
    return stored
