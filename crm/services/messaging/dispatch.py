"""The sequence dispatcher: claim due enrolments in batches, queue each step's text once,
move the enrolment on, then deliver. Safe with several dispatchers at once: rows are claimed
with SKIP LOCKED (PostgreSQL), and the unique (enrolment, step) message row makes a second
send of a step impossible even if two dispatchers ever reached the same enrolment."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import CompanySettings, Enrollment, Message, SequenceStep, TimelineEvent
from crm.services.bulk import bulk_set
from crm.services.messaging.gate import can_send, lead_zones, send_window
from crm.services.messaging.quiet_hours import spread
from crm.services.messaging.sending import messages_deliver, sender_for
from crm.services.messaging.templates import preview_url, template_context, template_render

PAUSING_REASONS = ("hot",)


@dataclass
class DispatchStats:
    claimed: int = 0
    queued: int = 0
    rescheduled: int = 0
    stopped: int = 0
    skipped_stale: int = 0
    sent: int = 0
    failed: int = 0
    canceled: int = 0
    batches: int = 0


def _following_steps(enrollments: list[Enrollment]) -> dict[int, SequenceStep | None]:
    """step id -> the step after it in its sequence (one query for the whole batch)."""
    sequence_ids = {e.sequence_id for e in enrollments}
    steps = list(SequenceStep.objects.filter(sequence_id__in=sequence_ids).order_by("sequence_id", "order"))
    following: dict[int, SequenceStep | None] = {}
    for current, after in zip(steps, steps[1:] + [None]):
        following[current.pk] = after if after is not None and after.sequence_id == current.sequence_id else None
    return following


def _advance(enrollment: Enrollment, following: SequenceStep | None, now) -> None:
    enrollment.next_step = following
    if following is None:
        enrollment.status, enrollment.next_run_at, enrollment.stopped_at = Enrollment.Status.COMPLETED, None, now
    else:
        enrollment.next_run_at = now + timedelta(days=following.delay_days, hours=following.delay_hours)


def _plan_batch(enrollments, company, now, stats: DispatchStats) -> tuple[list[Message], list[TimelineEvent]]:
    following = _following_steps(enrollments)
    stale_after = timedelta(hours=settings.SMS_STALE_AFTER_HOURS)
    messages, events = [], []
    for enrollment in enrollments:
        step, lead = enrollment.next_step, enrollment.lead
        if step is None:
            _advance(enrollment, None, now)
            continue
        if now - enrollment.next_run_at > stale_after:
            events.append(TimelineEvent(lead=lead, kind=TimelineEvent.Kind.SEQUENCE_STOPPED, data={
                "sequence": enrollment.sequence.name, "step": step.order, "skipped": "stale",
                "due": enrollment.next_run_at.isoformat()}))
            _advance(enrollment, following.get(step.pk), now)
            stats.skipped_stale += 1
            continue
        decision = can_send(lead, now, automated=True, sequence=True, step=step, company=company)
        if not decision:
            if decision.retry_at is not None:
                zones = lead_zones(lead)
                enrollment.next_run_at = spread(decision.retry_at, f"{enrollment.pk}:{step.pk}", zones,
                                                send_window(company, step))
                stats.rescheduled += 1
            else:
                hot = "hot" in decision.reason
                enrollment.status = Enrollment.Status.PAUSED if hot else Enrollment.Status.STOPPED
                enrollment.stop_reason, enrollment.stopped_at = decision.reason[:100], now
                events.append(TimelineEvent(lead=lead, kind=TimelineEvent.Kind.SEQUENCE_STOPPED,
                                            data={"sequence": enrollment.sequence.name, "reason": decision.reason}))
                stats.stopped += 1
            continue
        context = template_context(lead=lead, company=company, preview_url=preview_url(lead))
        messages.append(Message(
            lead=lead, direction=Message.Direction.OUTBOUND, body=template_render(step.template.body, context),
            from_number=sender_for(lead, company), to_number=lead.phone, status=Message.Status.QUEUED,
            enrollment=enrollment, sequence_step=step,
        ))
        _advance(enrollment, following.get(step.pk), now)
    return messages, events


def _claim_due(now, batch_size: int) -> list[Enrollment]:
    return list(
        Enrollment.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(status=Enrollment.Status.ACTIVE, next_run_at__lte=now)
        .select_related("lead", "lead__assigned_rep", "sequence", "next_step", "next_step__template")
        .order_by("next_run_at", "pk")[:batch_size]
    )


def dispatch_batch(*, now=None, batch_size: int = 500, backend=None, company=None,
                   stats: DispatchStats | None = None) -> DispatchStats:
    """One batch: claim, queue and advance in one transaction, then deliver what was queued."""
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
        try:
            with transaction.atomic():
                Message.objects.bulk_create(messages)
        except IntegrityError:
            # A step already has a message (another dispatcher got there): keep the others.
            kept = []
            for message in messages:
                try:
                    with transaction.atomic():
                        message.save()
                    kept.append(message)
                except IntegrityError:
                    pass
            messages = kept
        bulk_set(enrollments, ["next_step", "next_run_at", "status", "stop_reason", "stopped_at"])
        TimelineEvent.objects.bulk_create(events)
    stats.queued += len(messages)
    delivered = messages_deliver(messages=messages, backend=backend, now=now)
    stats.sent += delivered.sent
    stats.failed += delivered.failed
    stats.canceled += delivered.canceled
    return stats


def dispatch_due(*, now=None, batch_size: int = 500, max_batches: int | None = None, backend=None) -> DispatchStats:
    """Run batches until nothing is due (or max_batches). Also sends orphaned queued messages."""
    stats = DispatchStats()
    company = CompanySettings.load()
    while max_batches is None or stats.batches < max_batches:
        before = stats.claimed
        dispatch_batch(now=now, batch_size=batch_size, backend=backend, company=company, stats=stats)
        if stats.claimed == before:
            break
    orphans = list(Message.objects.filter(
        status=Message.Status.QUEUED, direction=Message.Direction.OUTBOUND,
        created_at__lt=(now or timezone.now()) - timedelta(minutes=2),
    ).values_list("pk", flat=True)[:batch_size])
    if orphans:
        delivered = messages_deliver(message_ids=orphans, backend=backend, now=now)
        stats.sent += delivered.sent
        stats.failed += delivered.failed
        stats.canceled += delivered.canceled
    return stats
