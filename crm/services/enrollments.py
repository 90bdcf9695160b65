"""Enrolling leads in sequences, and moving an enrolment on once a step's text has ended.

A step ends exactly once: sent, or skipped or failed with its reason on the lead's timeline.
Only then does the enrolment move to the next step, so a crash never skips an unsent one.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from crm.models import Enrollment, Lead, Message, Sequence, SequenceStep, TimelineEvent
from crm.services.messaging import sendrows

NOT_ENROLLABLE = (Lead.Status.PAID, Lead.Status.LOST, Lead.Status.REPLIED)
OPEN_STATUSES = [Enrollment.Status.ACTIVE, Enrollment.Status.PAUSED]
# A step counts as received once a text for it is queued, in flight or went out.
RECEIVED_STATUSES = [Message.Status.QUEUED, Message.Status.SENDING, Message.Status.SENT, Message.Status.DELIVERED]


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


def steps_received(*, lead_ids, sequence: Sequence) -> dict[int, int]:
    """lead id -> the highest step order of `sequence` each lead already received (one query)."""
    return dict(
        Message.objects.filter(lead_id__in=lead_ids, sequence_step__sequence=sequence,
                               direction=Message.Direction.OUTBOUND, status__in=RECEIVED_STATUSES)
        .values("lead_id").annotate(last=Max("sequence_step__order")).values_list("lead_id", "last")
    )


def _starting_step(steps: list[SequenceStep], received_up_to: int | None, restart: bool) -> SequenceStep | None:
    if restart or received_up_to is None:
        return steps[0] if steps else None
    return next((step for step in steps if step.order > received_up_to), None)


@dataclass
class EnrolResult:
    enrolled: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    continuing: int = 0  # enrolled past steps they had already received
    resent: int = 0  # restarted: will receive steps they already had again

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


def enrollments_create(*, leads: QuerySet, sequence: Sequence, actor=None, restart: bool = False,
                       dry_run: bool = False, now=None) -> EnrolResult:
    """Enrol many leads at once (a few queries whatever their number). A lead that already
    received some steps continues after the last one it got, unless `restart` (an admin's
    explicit choice) starts it again from step 1. `dry_run` counts without writing."""
    now = now or timezone.now()
    steps = list(sequence.steps.order_by("order"))
    result = EnrolResult()
    leads = list(leads.select_related(None).only(
        "pk", "status", "priority", "opted_out_at"))
    if not steps:
        for _ in leads:
            result.refuse("the sequence has no steps")
        return result
    received = steps_received(lead_ids=[lead.pk for lead in leads], sequence=sequence)
    open_ids = set(Enrollment.objects.filter(lead_id__in=[lead.pk for lead in leads], sequence=sequence,
                                             status__in=OPEN_STATUSES).values_list("lead_id", flat=True))
    planned: list[tuple[Lead, SequenceStep]] = []
    for lead in leads:
        refusal = enrollment_refusal(lead=lead, sequence=sequence) or (
            "already enrolled" if lead.pk in open_ids else "")
        start = _starting_step(steps, received.get(lead.pk), restart)
        if not refusal and start is None:
            refusal = "already received every step"
        if refusal:
            result.refuse(refusal)
            continue
        if lead.pk in received:
            if restart:
                result.resent += 1
            else:
                result.continuing += 1
        planned.append((lead, start))
    result.enrolled = len(planned)
    if dry_run or not planned:
        return result
    rows = [Enrollment(lead=lead, sequence=sequence, next_step=start, enrolled_by=actor, restart=restart,
                       next_run_at=now + timedelta(days=start.delay_days, hours=start.delay_hours))
            for lead, start in planned]
    try:
        with transaction.atomic():
            Enrollment.objects.bulk_create(rows)
    except IntegrityError:  # enrolled meanwhile by someone else: keep the others
        kept = []
        for row in rows:
            try:
                with transaction.atomic():
                    row.save()
                kept.append(row)
            except IntegrityError:
                result.refuse("already enrolled")
        rows = kept
        result.enrolled = len(rows)
    TimelineEvent.objects.bulk_create([
        TimelineEvent(lead_id=row.lead_id, kind=TimelineEvent.Kind.ENROLLED, actor=actor,
                      data={"sequence": sequence.name, "enrollment": row.pk, "from_step": row.next_step.order,
                            "restart": restart})
        for row in rows])
    return result


def enrollment_create(*, lead: Lead, sequence: Sequence, actor=None, restart: bool = False) -> Enrollment | None:
    """Enrol one lead (see `enrollments_create`); None when refused or already enrolled."""
    result = enrollments_create(leads=Lead.objects.filter(pk=lead.pk), sequence=sequence, actor=actor,
                                restart=restart)
    if not result.enrolled:
        return None
    return Enrollment.objects.filter(lead=lead, sequence=sequence, status__in=OPEN_STATUSES).first()


def leads_auto_enroll(*, lead_ids: list[int], sequence: Sequence | None) -> int:
    """Enrol the given leads in the company's auto-enrol sequence, if one is set."""
    if sequence is None:
        return 0
    return enrollments_create(leads=Lead.objects.filter(pk__in=lead_ids), sequence=sequence).enrolled


def step_following(step: SequenceStep) -> SequenceStep | None:
    return SequenceStep.objects.filter(sequence_id=step.sequence_id, order__gt=step.order).order_by("order").first()


class StepBook:
    """Every sequence step, read once: a sender reads it again every few seconds instead of
    asking the database for each text's step and the step after it."""

    def __init__(self):
        steps = list(SequenceStep.objects.order_by("sequence_id", "order"))
        self._steps = {step.pk: step for step in steps}
        self._following = {current.pk: after if after is not None and after.sequence_id == current.sequence_id
                           else None for current, after in zip(steps, steps[1:] + [None])}

    def get(self, step_id: int | None) -> SequenceStep | None:
        if step_id is None:
            return None
        if step_id not in self._steps:  # added since this book was read
            step = SequenceStep.objects.filter(pk=step_id).first()
            if step is None:
                return None
            self._steps[step_id], self._following[step_id] = step, step_following(step)
        return self._steps[step_id]

    def following(self, step: SequenceStep) -> SequenceStep | None:
        self.get(step.pk)
        return self._following[step.pk]


_ASK = object()  # enrollment_step_ended: look the following step up


def enrollment_step_ended(*, enrollment_id: int, step: SequenceStep, outcome: str, reason: str = "",
                          now=None, following=_ASK) -> bool:
    """The text for `step` ended (sent, failed, skipped): move the enrolment to the next step
    (or complete it), once, in one statement. A no-op when the enrolment has already moved on.
    (The sender writes a sent step's move together with the text: sendrows.sent_record.)
    Failed and skipped steps are written on the timeline with their reason (a sent one has its
    own "Text sent" event). `following`: the next step when the caller knows it (StepBook)."""
    now = now or timezone.now()
    if following is _ASK:
        following = step_following(step)
    moved = sendrows.enrollment_move_on(enrollment_id=enrollment_id, step_id=step.pk, following=following, now=now)
    if moved and outcome != "sent":
        enrollment = Enrollment.objects.select_related("sequence").get(pk=enrollment_id)
        TimelineEvent.objects.create(lead_id=enrollment.lead_id, kind=TimelineEvent.Kind.SEQUENCE_STOPPED, data={
            "sequence": enrollment.sequence.name, "step": step.order, "skipped" if outcome == "skipped" else "failed":
            reason[:200]})
    return moved


def enrollment_step_retry(*, enrollment_id: int, step: SequenceStep, at) -> bool:
    """The step's text could not go now (quiet hours): try the same step again at `at`."""
    return Enrollment.objects.filter(pk=enrollment_id, next_step=step).update(next_run_at=at) == 1


def enrollment_halt(*, enrollment_id: int, reason: str, pause: bool, now=None) -> None:
    """Stop (or pause, when a person takes over) one enrolment whose step may not go, keeping
    its step due so a resumed enrolment sends it."""
    now = now or timezone.now()
    status = Enrollment.Status.PAUSED if pause else Enrollment.Status.STOPPED
    changed = Enrollment.objects.filter(pk=enrollment_id, status__in=OPEN_STATUSES).update(
        status=status, stop_reason=reason[:100], stopped_at=now, next_run_at=now)
    if changed:
        enrollment = Enrollment.objects.select_related("sequence").get(pk=enrollment_id)
        TimelineEvent.objects.create(lead_id=enrollment.lead_id, kind=TimelineEvent.Kind.SEQUENCE_STOPPED,
                                     data={"sequence": enrollment.sequence.name, "reason": reason[:200]})
