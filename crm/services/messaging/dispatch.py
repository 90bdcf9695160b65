"""The sequence dispatcher: plans due steps, it never sends. Each batch claims due enrolments
(SKIP LOCKED on PostgreSQL), decides each step with the gate, and queues its text with a slot
from the sending number's pace, all in one transaction; the sender does the rest.

An enrolment whose text is queued waits (no next run time) until the text ends; only then does
it move on (services/enrollments.py). A step the lead already received is skipped unless an
admin restarted the enrolment, and the unique (enrolment, step) row makes a second text for a
step impossible even if two dispatchers reached the same enrolment.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.enqueue import sms_sender_start
from crm.models import CompanySettings, Enrollment, Message, SequenceStep, TimelineEvent
from crm.services.bulk import bulk_set
from crm.services.enrollments import RECEIVED_STATUSES
from crm.services.messaging.gate import Refusal, can_send, lead_zones, send_window
from crm.services.messaging.pacing import SlotBook
from crm.services.messaging.quiet_hours import is_allowed, next_opening, spread
from crm.services.messaging.sending import sender_for
from crm.services.messaging.templates import preview_url, template_context, template_render


@dataclass
class DispatchStats:
    claimed: int = 0
    queued: int = 0
    rescheduled: int = 0
    deferred: int = 0  # the number's slots are taken for the planning horizon: planned later
    stopped: int = 0
    skipped_stale: int = 0
    skipped_received: int = 0
    batches: int = 0


def _following_steps(enrollments: list[Enrollment]) -> dict[int, SequenceStep | None]:
    """step id -> the step after it in its sequence (one query for the whole batch)."""
    sequence_ids = {e.sequence_id for e in enrollments}
    steps = list(SequenceStep.objects.filter(sequence_id__in=sequence_ids).order_by("sequence_id", "order"))
    following: dict[int, SequenceStep | None] = {}
    for current, after in zip(steps, steps[1:] + [None]):
        following[current.pk] = after if after is not None and after.sequence_id == current.sequence_id else None
    return following


def _received(enrollments: list[Enrollment]) -> set[tuple[int, int]]:
    """(lead, step) pairs already texted, for enrolments that continue rather than restart."""
    continuing = [e for e in enrollments if not e.restart and e.next_step_id]
    if not continuing:
        return set()
    return set(Message.objects.filter(
        lead_id__in={e.lead_id for e in continuing}, sequence_step_id__in={e.next_step_id for e in continuing},
        direction=Message.Direction.OUTBOUND, status__in=RECEIVED_STATUSES,
    ).values_list("lead_id", "sequence_step_id"))


def _advance(enrollment: Enrollment, following: SequenceStep | None, now) -> None:
    enrollment.next_step = following
    if following is None:
        enrollment.status, enrollment.next_run_at, enrollment.stopped_at = Enrollment.Status.COMPLETED, None, now
    else:
        enrollment.next_run_at = now + timedelta(days=following.delay_days, hours=following.delay_hours)


def _skip(enrollment, following, now, events, why: str) -> None:
    events.append(TimelineEvent(lead=enrollment.lead, kind=TimelineEvent.Kind.SEQUENCE_STOPPED, data={
        "sequence": enrollment.sequence.name, "step": enrollment.next_step.order, "skipped": why}))
    _advance(enrollment, following, now)


def _plan_batch(enrollments, company, now, stats: DispatchStats) -> tuple[list[Message], list[TimelineEvent]]:
    following = _following_steps(enrollments)
    received = _received(enrollments)
    stale_after = timedelta(hours=settings.SMS_STALE_AFTER_HOURS)
    horizon = now + timedelta(seconds=settings.SMS_PLAN_AHEAD_SECONDS)
    book = SlotBook(now)
    messages, events = [], []
    for enrollment in enrollments:
        step, lead = enrollment.next_step, enrollment.lead
        if step is None:
            _advance(enrollment, None, now)
            continue
        if now - enrollment.next_run_at > stale_after:
            _skip(enrollment, following.get(step.pk), now, events,
                  f"stale: due {enrollment.next_run_at:%Y-%m-%d %H:%M} UTC, not sent late")
            stats.skipped_stale += 1
            continue
        if (lead.pk, step.pk) in received:
            _skip(enrollment, following.get(step.pk), now, events, "already received: enrolled again")
            stats.skipped_received += 1
            continue
        decision = can_send(lead, now, automated=True, sequence=True, step=step, company=company)
        window, zones = send_window(company, step), lead_zones(lead)
        number = sender_for(lead, company)
        slot = book.peek(number) if decision else None
        if slot is not None and slot > now and not is_allowed(slot, zones, window):
            decision_retry = next_opening(slot, zones, window)  # the number's queue runs past the window
            enrollment.next_run_at = spread(decision_retry, f"{enrollment.pk}:{step.pk}", zones, window) \
                if decision_retry else now + timedelta(hours=1)
            stats.rescheduled += 1
            continue
        if not decision:
            if decision.code == Refusal.QUIET_HOURS and decision.retry_at is not None:
                enrollment.next_run_at = spread(decision.retry_at, f"{enrollment.pk}:{step.pk}", zones, window)
                stats.rescheduled += 1
            else:
                paused = decision.code in Refusal.PAUSING
                enrollment.status = Enrollment.Status.PAUSED if paused else Enrollment.Status.STOPPED
                enrollment.stop_reason, enrollment.stopped_at = decision.reason[:100], now
                events.append(TimelineEvent(lead=lead, kind=TimelineEvent.Kind.SEQUENCE_STOPPED,
                                            data={"sequence": enrollment.sequence.name, "reason": decision.reason}))
                stats.stopped += 1
            continue
        if slot > horizon:
            enrollment.next_run_at = slot  # its number is busy: plan it when its slot nears
            stats.deferred += 1
            continue
        context = template_context(lead=lead, company=company, preview_url=preview_url(lead))
        messages.append(Message(
            lead=lead, direction=Message.Direction.OUTBOUND, body=template_render(step.template.body, context),
            from_number=number, to_number=lead.phone, status=Message.Status.QUEUED,
            enrollment=enrollment, sequence_step=step, send_at=book.take(number),
        ))
        enrollment.next_run_at = None  # waits for its text to end
    book.save()
    return messages, events


def _claim_due(now, batch_size: int) -> list[Enrollment]:
    return list(
        Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=Enrollment.Status.ACTIVE, next_run_at__lte=now)
        .select_related("lead", "lead__assigned_rep", "sequence", "next_step", "next_step__template")
        .order_by("next_run_at", "pk")[:batch_size]
    )


def _insert(messages: list[Message]) -> int:
    try:
        with transaction.atomic():
            Message.objects.bulk_create(messages)
        return len(messages)
    except IntegrityError:
        # A step already has its text (another dispatcher got there): the enrolment waits on that one.
        kept = 0
        for message in messages:
            try:
                with transaction.atomic():
                    message.save()
                kept += 1
            except IntegrityError:
                pass
        return kept


def dispatch_batch(*, now=None, batch_size: int = 500, company=None, stats: DispatchStats | None = None) -> DispatchStats:
    """One batch: claim, decide, queue and move on in one transaction (all or nothing)."""
    stats = stats or DispatchStats()
    now = now or timezone.now()
    company = company or CompanySettings.load()
    with transaction.atomic():
        enrollments = _claim_due(now, batch_size)
        if not enrollments:
            return stats
        stats.claimed += len(enrollments)
        stats.batches += 1
        messages, events = _plan_batch(enrollments, company, now, stats)
        stats.queued += _insert(messages)
        bulk_set(enrollments, ["next_step", "next_run_at", "status", "stop_reason", "stopped_at"])
        TimelineEvent.objects.bulk_create(events)
        if messages:
            sms_sender_start()
    return stats


def dispatch_due(*, now=None, batch_size: int = 500, max_batches: int | None = None) -> DispatchStats:
    """Plan batches until nothing is due (or max_batches)."""
    stats = DispatchStats()
    company = CompanySettings.load()
    while max_batches is None or stats.batches < max_batches:
        before = stats.claimed
        dispatch_batch(now=now, batch_size=batch_size, company=company, stats=stats)
        if stats.claimed == before:
            break
    return stats
