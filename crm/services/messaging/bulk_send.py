"""Bulk texts from the admin: every selected lead goes through the gate, the allowed ones get a
queued text with a slot from their number's pace, and the request answers at once with counts.
The worker sends them; the same text to the same lead within 24 hours is never queued twice."""

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.enqueue import sms_sender_start
from crm.models import BulkSend, CompanySettings, Lead, Message
from crm.services.messaging.gate import Refusal, can_send, lead_zones, send_window
from crm.services.messaging.pacing import SlotBook
from crm.services.messaging.quiet_hours import is_allowed
from crm.services.messaging.sending import SendRefused, body_refusal, sender_for
from crm.services.messaging.templates import preview_url, template_context, template_errors, template_render

DEDUPE_WINDOW = timedelta(hours=24)
CHUNK = 1000
# How a refusal is counted on the summary (the gate's own words name a lead's local time).
REFUSAL_LABELS = {
    Refusal.OPTED_OUT: "opted out",
    Refusal.NUMBER_FLAGGED: "the number cannot take texts",
    Refusal.NO_CONSENT: "no recorded consent for automated texts",
    Refusal.NEEDS_HUMAN: "asked to stop in their own words",
    Refusal.QUIET_HOURS: "outside quiet hours in the lead's time zone",
    "after_window": "their number's queue runs past today's send window",
}


def bulk_dedupe_key(body: str) -> str:
    return hashlib.sha256(body.strip().encode()).hexdigest()


@dataclass
class BulkPlan:
    selected: int = 0
    queued: int = 0
    duplicates: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    bulk_send: BulkSend | None = None

    def refuse(self, label: str) -> None:
        self.refused[label] = self.refused.get(label, 0) + 1


def _duplicates(lead_ids: list[int], key: str, now) -> set[int]:
    return set(Message.objects.filter(dedupe_key=key, lead_id__in=lead_ids, created_at__gte=now - DEDUPE_WINDOW)
               .exclude(status__in=[Message.Status.FAILED, Message.Status.CANCELED])
               .values_list("lead_id", flat=True))


def sms_bulk_send(*, leads: QuerySet, body: str, actor=None, dry_run: bool = False, now=None) -> BulkPlan:
    """Queue `body` (merge fields allowed) to each lead the gate allows; refusals and leads that
    already got this text in the last 24 h are counted, not queued. `dry_run` counts only.
    A few queries per thousand leads; nothing is sent in the caller's request."""
    body = body.strip()
    problems = template_errors(body) or ([body_refusal(body)] if body_refusal(body) else [])
    if problems:
        raise SendRefused("; ".join(problems))
    now = now or timezone.now()
    key = bulk_dedupe_key(body)
    company = CompanySettings.load()
    plan = BulkPlan()
    window = send_window(company)
    lead_ids = list(leads.order_by().values_list("pk", flat=True))
    plan.selected = len(lead_ids)
    with transaction.atomic():
        if not dry_run:
            plan.bulk_send = BulkSend.objects.create(body=body, dedupe_key=key, created_by=actor,
                                                     selected=plan.selected)
        book = SlotBook(now)
        for start in range(0, len(lead_ids), CHUNK):
            chunk = lead_ids[start:start + CHUNK]
            already = _duplicates(chunk, key, now)
            messages = []
            for lead in Lead.objects.filter(pk__in=chunk).select_related("assigned_rep"):
                if lead.pk in already:
                    plan.duplicates += 1
                    continue
                decision = can_send(lead, now, automated=True, company=company)
                if not decision:
                    plan.refuse(REFUSAL_LABELS.get(decision.code, decision.reason))
                    continue
                number = sender_for(lead, company)
                if not is_allowed(book.peek(number), lead_zones(lead), window):
                    plan.refuse(REFUSAL_LABELS["after_window"])
                    continue
                slot = book.take(number)
                plan.queued += 1
                if dry_run:
                    continue
                context = template_context(lead=lead, company=company, preview_url=preview_url(lead))
                messages.append(Message(
                    lead=lead, direction=Message.Direction.OUTBOUND, body=template_render(body, context),
                    from_number=number, to_number=lead.phone, status=Message.Status.QUEUED, sent_by=actor,
                    bulk_send=plan.bulk_send, dedupe_key=key, send_at=slot))
            Message.objects.bulk_create(messages)
        if dry_run:
            transaction.set_rollback(True)
            return plan
        book.save()
        BulkSend.objects.filter(pk=plan.bulk_send.pk).update(
            queued=plan.queued, skipped_duplicates=plan.duplicates, refused=plan.refused)
        if plan.queued:
            sms_sender_start()
    return plan
