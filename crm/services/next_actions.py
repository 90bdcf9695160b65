"""What a rep does next with a lead, and when: the queue leaves the lead out until then."""

from datetime import datetime

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from crm.models import Call, Lead, TimelineEvent
from crm.services.leads import lead_update

NEXT_ACTION_MAX_CHARS = 200
# Statuses a person may set by hand; PAID is written by billing when the money arrives.
HAND_SET_STATUSES = tuple(status for status in Lead.Status.values if status != Lead.Status.PAID)


class NextActionInvalid(ValueError):
    """Bad input for a status or next action: nothing was changed."""


@transaction.atomic
def lead_next_action_set(*, lead: Lead, actor, next_action: str, next_action_at: datetime | None,
                         status: str = "", callback: bool = False) -> Lead:
    """Set the lead's next action and its due time (both empty: nothing planned) and, when
    given, its status. `callback`: the next action is a callback the lead asked for (the queue
    shows it as "Callback due"); a next action set again unchanged keeps what it was. Each
    change leaves a timeline event (status_change, and a note naming the next action); an
    unchanged value writes nothing. Raises NextActionInvalid, writing nothing, for an unknown
    or billing-only status, a text too long, or a due time without an action."""
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
    unchanged = (stored.next_action, stored.next_action_at) == (next_action, next_action_at)
    is_callback = next_action_at is not None and (callback or (unchanged and stored.next_action_is_callback))
    if not unchanged:
        stored.next_action, stored.next_action_at = next_action, next_action_at
        stored.next_action_is_callback = is_callback
        stored.save(update_fields=["next_action", "next_action_at", "next_action_is_callback", "updated_at"])
        TimelineEvent.objects.create(lead=stored, kind=TimelineEvent.Kind.NOTE, actor=actor, data={
            "next_action": next_action, "due": next_action_at.isoformat() if next_action_at else None})
    elif stored.next_action_is_callback != is_callback:
        stored.next_action_is_callback = is_callback
        stored.save(update_fields=["next_action_is_callback", "updated_at"])
    return stored


def next_action_callback_backfill(*, lead_model=Lead, call_model=Call) -> int:
    """Mark the planned next actions that are callbacks, from the calls already stored (the
    migration that added the flag calls it with its historical models): a lead with a next
    action whose last call was logged "callback". Returns how many were marked."""
    last_outcome = call_model.objects.filter(lead=OuterRef("pk")).order_by("-created_at", "-id").values("outcome")[:1]
    return (lead_model.objects.filter(next_action_at__isnull=False, next_action_is_callback=False)
            .alias(last_outcome=Subquery(last_outcome)).filter(last_outcome="callback")
            .update(next_action_is_callback=True))
