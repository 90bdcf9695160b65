"""Texts from leads: opt-out and opt-in keywords, HELP, "please stop" in their own words, and
replies, each handled in the request that delivers it."""

import re

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import CompanySettings, Enrollment, Lead, Message, Notification, TimelineEvent, WebhookEvent
from crm.services.engagement import engagement_score
from crm.services.messaging.optout import lead_opt_in, lead_opt_out, lead_sequences_stop
from crm.services.notifications import notify
from crm.services.reply_waiting import reply_waiting_start

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}
SOFT_STOP = re.compile(
    r"\b(stop|quit|cease)\s+(texting|messaging|sending|contacting)|remove me|take me off|unsubscribe me|"
    r"(don'?t|do not)\s+(text|message|contact)|leave me alone|wrong number|no more (texts|messages)|"
    r"lose my number", re.IGNORECASE)


def keyword(body: str) -> str:
    """STOP, "Stop.", " s t o p " and "opt out" all become one word."""
    return re.sub(r"[^A-Z]", "", body.upper())


def lead_count_inbound(*, lead: Lead) -> None:
    """A reply counts toward engagement (services/engagement.py)."""
    messages = F("inbound_messages") + 1
    Lead.objects.filter(pk=lead.pk).update(inbound_messages=messages, engagement_score=engagement_score(messages=messages))


def _store_inbound(lead: Lead, payload: dict, now) -> Message:
    message = Message.objects.create(
        lead=lead, direction=Message.Direction.INBOUND, body=payload.get("Body", "")[:1600],
        from_number=payload.get("From", ""), to_number=payload.get("To", ""),
        provider_sid=payload.get("MessageSid") or None, status=Message.Status.RECEIVED, sent_at=now,
    )
    TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.MESSAGE_IN,
                                 data={"message": message.pk, "body": message.body[:160]})
    lead_count_inbound(lead=lead)
    reply_waiting_start(lead_id=lead.pk, at=message.created_at)  # the rep's queue: a reply waits
    return message


def sms_inbound_process(*, webhook_event: WebhookEvent) -> str:
    """Handle one stored inbound text; returns the immediate reply ("" for none)."""
    payload = webhook_event.payload
    now = timezone.now()
    lead = Lead.objects.select_related("assigned_rep").filter(phone=payload.get("From", "")).first()
    if lead is None:
        return ""  # the event is kept; nobody to attach it to
    if Message.objects.filter(provider_sid=payload.get("MessageSid")).exists():
        return ""
    company = CompanySettings.load()
    word = keyword(payload.get("Body", ""))
    opt_out_type = (payload.get("OptOutType") or "").upper()
    # Twilio's Advanced Opt-Out answers STOP/START/HELP itself: then we send nothing more.
    twilio_replies = bool(opt_out_type)
    with transaction.atomic():
        _store_inbound(lead, payload, now)
        if word in STOP_WORDS or opt_out_type == "STOP":
            newly = lead_opt_out(lead=lead, source=f"text: {payload.get('Body', '')[:40]}", now=now)
            if newly and not twilio_replies:
                return (f"You're unsubscribed from {company.name} texts. No more messages will be sent. "
                        "Reply START to resubscribe.")
            return ""
        if word in START_WORDS or opt_out_type == "START":
            changed = lead_opt_in(lead=lead, source="text")
            if changed and not twilio_replies:
                return f"You're resubscribed to {company.name} texts. Reply STOP to unsubscribe."
            if changed or twilio_replies:
                return ""
        if word in HELP_WORDS or opt_out_type == "HELP":
            return "" if twilio_replies else f"{company.name}: {company.help_text_reply}"
        if SOFT_STOP.search(payload.get("Body", "")):
            Lead.objects.filter(pk=lead.pk).update(needs_human_at=now, status=Lead.Status.REPLIED)
            lead_sequences_stop(lead_id=lead.pk, reason="asked to stop in their own words", now=now,
                                status=Enrollment.Status.PAUSED)
            notify(lead=lead, kind=Notification.Kind.NEEDS_HUMAN,
                   text=f"{lead.business_name} asked to stop in their own words: \"{payload.get('Body', '')[:120]}\". "
                        "Texts are paused until someone reviews it.")
            return ""
        if lead.status not in (Lead.Status.PAID, Lead.Status.LOST):
            Lead.objects.filter(pk=lead.pk).update(status=Lead.Status.REPLIED)
        lead_sequences_stop(lead_id=lead.pk, reason="the lead replied", now=now)
        notify(lead=lead, kind=Notification.Kind.REPLY,
               text=f"{lead.business_name} replied: \"{payload.get('Body', '')[:160]}\"")
    return ""
