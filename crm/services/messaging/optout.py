"""Opting out and back in: the one place either is written, whatever reported it (a STOP text,
a carrier's 21610 on a send or in a status callback, an admin)."""

from django.db import transaction
from django.utils import timezone

from crm.models import Enrollment, Lead, Message, TimelineEvent

OPEN_ENROLLMENTS = [Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED]


def lead_sequences_stop(*, lead_id: int, reason: str, now, status=Enrollment.Status.STOPPED) -> int:
    """Stop (or pause) every open enrolment of the lead, with the reason."""
    return Enrollment.objects.filter(lead_id=lead_id, status__in=OPEN_ENROLLMENTS).update(
        status=status, stop_reason=reason[:100], stopped_at=now)


def lead_opt_out(*, lead: Lead, source: str, now=None) -> bool:
    """Opt the lead out at once: sequences stopped, queued texts cancelled, one timeline event.
    True if newly opted out. Writing the lead row waits for a sender holding it, so a text
    whose send began before this commits is the last one; none starts after."""
    now = now or timezone.now()
    with transaction.atomic():
        newly = Lead.objects.filter(pk=lead.pk, opted_out_at__isnull=True).update(opted_out_at=now) == 1
        lead_sequences_stop(lead_id=lead.pk, reason="opted out", now=now)
        Message.objects.filter(lead=lead, direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED).update(
            status=Message.Status.CANCELED, error_message="the lead opted out")
        if newly:
            TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.OPT_OUT, data={"source": source})
    lead.opted_out_at = lead.opted_out_at or now
    return newly


def lead_opt_in(*, lead: Lead, source: str) -> bool:
    with transaction.atomic():
        changed = Lead.objects.filter(pk=lead.pk, opted_out_at__isnull=False).update(opted_out_at=None) == 1
        if changed:
            TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.OPT_IN, data={"source": source})
    lead.opted_out_at = None
    return changed


def lead_flag_number(*, lead_id: int, code: str, now=None) -> bool:
    """The carrier says this number cannot take texts: flag it (once) and stop its sequences."""
    now = now or timezone.now()
    with transaction.atomic():
        flagged = Lead.objects.filter(pk=lead_id, number_flagged_at__isnull=True).update(number_flagged_at=now) == 1
        if flagged:
            lead_sequences_stop(lead_id=lead_id, reason=f"number cannot take texts (error {code})", now=now)
            Message.objects.filter(lead_id=lead_id, direction=Message.Direction.OUTBOUND,
                                   status=Message.Status.QUEUED).update(
                status=Message.Status.CANCELED, error_message=f"the carrier reported the number dead ({code})")
    return flagged
