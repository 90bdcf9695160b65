"""Lead writes that staff trigger from the admin."""

from django.db import transaction
from django.db.models import QuerySet

from crm.models import Lead, TimelineEvent
from crm.services.timeline import timeline_record_many


@transaction.atomic
def lead_bulk_set_status(*, leads: QuerySet, status: str, actor) -> list[Lead]:
    """Set `status` on every lead in `leads` that does not have it yet.

    Each changed lead gets a status_change timeline event. Returns the changed leads.
    """
    if status not in Lead.Status.values:
        raise ValueError(f"Unknown lead status {status!r}")
    changed = list(leads.exclude(status=status).select_for_update())
    if not changed:
        return []
    previous = {lead.pk: lead.status for lead in changed}
    Lead.objects.filter(pk__in=previous).update(status=status)
    for lead in changed:
        lead.status = status
    timeline_record_many(
        leads=changed, kind=TimelineEvent.Kind.STATUS_CHANGE, actor=actor, data={"to": status}
    )
    return changed


@transaction.atomic
def lead_bulk_assign(*, leads: QuerySet, rep, actor) -> list[Lead]:
    """Assign every lead in `leads` to `rep` (None to unassign); one timeline event each."""
    changed = list(leads.exclude(assigned_rep=rep).select_for_update())
    if not changed:
        return []
    Lead.objects.filter(pk__in=[lead.pk for lead in changed]).update(assigned_rep=rep)
    for lead in changed:
        lead.assigned_rep = rep
    timeline_record_many(
        leads=changed,
        kind=TimelineEvent.Kind.ASSIGNED,
        actor=actor,
        data={"rep": rep.get_username() if rep else None},
    )
    return changed
