"""Enrolling leads in sequences. (Sending is the dispatcher's job, in the SMS work.)"""

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Enrollment, Lead, Sequence, TimelineEvent

NOT_ENROLLABLE = (Lead.Status.PAID, Lead.Status.LOST, Lead.Status.REPLIED)


def enrollment_refusal(*, lead: Lead, sequence: Sequence) -> str:
    """Why `lead` cannot be enrolled in `sequence`, or "" when it can."""
    if not sequence.is_active:
        return "the sequence is switched off"
    if lead.opted_out_at:
        return "the lead opted out"
    if lead.status in NOT_ENROLLABLE:
        return f"the lead is {lead.get_status_display().lower()}"
    if lead.priority == Lead.Priority.HOT:
        return "the lead is hot: a person takes over"
    return ""


def enrollment_create(*, lead: Lead, sequence: Sequence, actor=None) -> Enrollment | None:
    """Enrol `lead` at the sequence's first step; None when refused or already enrolled."""
    first = sequence.steps.order_by("order").first()
    if first is None or enrollment_refusal(lead=lead, sequence=sequence):
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            enrollment = Enrollment.objects.create(
                lead=lead, sequence=sequence, next_step=first, enrolled_by=actor,
                next_run_at=now + timedelta(days=first.delay_days, hours=first.delay_hours),
            )
            TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.ENROLLED, actor=actor,
                                         data={"sequence": sequence.name, "enrollment": enrollment.pk})
    except IntegrityError:
        return None  # already actively enrolled in this sequence
    return enrollment


def leads_auto_enroll(*, lead_ids: list[int], sequence: Sequence | None) -> int:
    """Enrol the given leads in the company's auto-enrol sequence, if one is set."""
    if sequence is None:
        return 0
    enrolled = 0
    open_statuses = [Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED]
    for lead in Lead.objects.filter(pk__in=lead_ids).exclude(enrollments__sequence=sequence,
                                                           enrollments__status__in=open_statuses):
        enrolled += enrollment_create(lead=lead, sequence=sequence) is not None
    return enrolled
