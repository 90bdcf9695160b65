"""Recording what a lead does on their preview page, keeping counters and the engagement
score on the lead, and applying the hot-lead rule in the same request."""

import hashlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import CompanySettings, Lead, PreviewEvent
from crm.services.engagement import engagement_score
from crm.services.hot_leads import lead_check_hot

MAX_SECONDS = 3600
EVENT_KINDS = {kind.value for kind in PreviewEvent.Kind}
# Link previews, crawlers, scanners and headless browsers: none of them is a person looking.
BOT_USER_AGENT = re.compile(
    r"bot\b|crawler|spider|slurp|facebookexternalhit|facebot|whatsapp|slack|twitterbot|telegram|discord|"
    r"linkedin|skypeuripreview|bingpreview|applebot|google-|googleother|adsbot|mediapartners|headless|"
    r"phantomjs|puppeteer|playwright|lighthouse|python-|curl/|wget/|go-http-client|okhttp|java/|"
    r"httpclient|axios|node-fetch|preview|scanner|proofpoint|mimecast|barracuda|urlscan|pinterest|redditbot|"
    r"embedly|quora link|vkshare|w3c_validator|yahoo|yandex|baidu|duckduck|petalbot|semrush|ahrefs",
    re.IGNORECASE,
)


def is_bot_user_agent(user_agent: str) -> bool:
    return not user_agent.strip() or bool(BOT_USER_AGENT.search(user_agent))


def hash_ip(ip: str) -> str:
    """Addresses are kept only as a keyed hash: enough to rate-limit and group, not to identify."""
    return hashlib.sha256(f"{settings.SECRET_KEY}:{ip}".encode()).hexdigest()[:32]


@dataclass
class Recorded:
    event: PreviewEvent
    became_hot: bool


def preview_event_record(*, lead: Lead, kind: str, session_id: str, seconds: int = 0, target: str = "",
                         user_agent: str = "", ip: str = "") -> Recorded:
    """Store one counted event, update the lead's counters and score, then apply the hot rule.

    Callers have already dropped bots, staff and events the page's script did not send.
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"Unknown preview event {kind!r}")
    seconds = max(0, min(int(seconds or 0), MAX_SECONDS)) if kind in (PreviewEvent.Kind.PING,
                                                                     PreviewEvent.Kind.LEAVE) else 0
    now = timezone.now()
    with transaction.atomic():
        event = PreviewEvent.objects.create(
            lead=lead, kind=kind, session_id=session_id[:64], seconds=seconds, target=target[:64],
            user_agent=user_agent[:300], ip_hash=hash_ip(ip) if ip else "",
        )
        views = F("preview_views") + (1 if kind == PreviewEvent.Kind.VIEW else 0)
        clicks = F("preview_clicks") + (1 if kind == PreviewEvent.Kind.CTA_CLICK else 0)
        total_seconds = F("preview_seconds") + seconds
        updates = {
            "preview_views": views, "preview_clicks": clicks, "preview_seconds": total_seconds,
            "engagement_score": engagement_score(views=views, clicks=clicks, seconds=total_seconds),
            "last_viewed_at": now,
        }
        Lead.objects.filter(pk=lead.pk).update(**updates)
        if kind == PreviewEvent.Kind.VIEW:
            # A first look moves a new or contacted lead to ENGAGED; later stages stay.
            Lead.objects.filter(pk=lead.pk, status__in=[Lead.Status.NEW, Lead.Status.CONTACTED]).update(
                status=Lead.Status.ENGAGED)
    became_hot = False
    if kind in (PreviewEvent.Kind.VIEW, PreviewEvent.Kind.CTA_CLICK):
        became_hot = lead_check_hot(lead=lead, kind=kind, now=now, company=CompanySettings.load())
    return Recorded(event=event, became_hot=became_hot)
