"""Hot leads: the moment a lead passes the view threshold it becomes HOT, once per episode,
its rep is told and its sequences pause; quiet leads cool back to WARM."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from crm.models import CompanySettings, Enrollment, Lead, Notification, PreviewEvent, TimelineEvent
from crm.services.notifications import notify

HOT_PAUSE_REASON = "hot lead: a person takes over"


def qualifying_views(*, lead_id: int, since: datetime) -> int:
    return PreviewEvent.objects.filter(lead_id=lead_id, kind=PreviewEvent.Kind.VIEW, created_at__gte=since).count()


def _context_text(lead: Lead, since: datetime, now: datetime, trigger: str) -> tuple[str, dict]:
    stats = PreviewEvent.objects.filter(lead=lead, created_at__gte=since).aggregate(
        views=Count("pk", filter=Q(kind=PreviewEvent.Kind.VIEW)),
        seconds=Sum("seconds", filter=Q(kind__in=[PreviewEvent.Kind.PING, PreviewEvent.Kind.LEAVE])),
        first=Count("pk"),
    )
    first_view = (PreviewEvent.objects.filter(lead=lead, kind=PreviewEvent.Kind.VIEW, created_at__gte=since)
                  .order_by("created_at").values_list("created_at", flat=True).first()) or now
    clicks = list(PreviewEvent.objects.filter(lead=lead, kind=PreviewEvent.Kind.CTA_CLICK, created_at__gte=since)
                  .values_list("target", flat=True).distinct())
    minutes = max(1, round((now - first_view).total_seconds() / 60))
    seconds = stats["seconds"] or 0
    text = f"{stats['views']} view(s) in {minutes} min, {seconds // 60} min {seconds % 60} s on the page"
    if clicks:
        text += ", clicked " + ", ".join(c or "a button" for c in clicks)
    return text, {"views": stats["views"], "minutes": minutes, "seconds": seconds, "clicks": clicks,
                  "trigger": trigger}


def lead_mark_hot(*, lead: Lead, trigger: str, now: datetime | None = None,
                  company: CompanySettings | None = None) -> bool:
    """Make the lead HOT unless it already is. Returns True only for the call that did it,
    so one episode gives one timeline entry and one notification, however many views follow."""
    now = now or timezone.now()
    company = company or CompanySettings.load()
    since = now - timedelta(minutes=company.hot_lead_window_minutes)
    with transaction.atomic():
        changed = Lead.objects.filter(pk=lead.pk).exclude(priority=Lead.Priority.HOT).update(
            priority=Lead.Priority.HOT, hot_at=now, updated_at=now)
        if not changed:
            return False
        lead.priority, lead.hot_at = Lead.Priority.HOT, now
        text, data = _context_text(lead, since, now, trigger)
        TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.HOT, data={**data, "text": text})
        notify(lead=lead, kind=Notification.Kind.HOT_LEAD, text=f"{lead.business_name} is hot: {text}.")
        Enrollment.objects.filter(lead=lead, status=Enrollment.Status.ACTIVE).update(
            status=Enrollment.Status.PAUSED, stop_reason=HOT_PAUSE_REASON)
    return True


def lead_check_hot(*, lead: Lead, kind: str, now: datetime | None = None,
                   company: CompanySettings | None = None) -> bool:
    """Apply the rule after a counted event: N views in the window, or (optionally) any click."""
    if lead.priority == Lead.Priority.HOT or lead.status == Lead.Status.PAID:
        return False
    now = now or timezone.now()
    company = company or CompanySettings.load()
    if kind == PreviewEvent.Kind.CTA_CLICK and company.hot_lead_on_cta_click:
        return lead_mark_hot(lead=lead, trigger="click", now=now, company=company)
    if kind != PreviewEvent.Kind.VIEW:
        return False
    since = now - timedelta(minutes=company.hot_lead_window_minutes)
    if qualifying_views(lead_id=lead.pk, since=since) >= company.hot_lead_views:
        return lead_mark_hot(lead=lead, trigger="views", now=now, company=company)
    return False


def hot_leads_sweep(*, now: datetime | None = None) -> dict:
    """The every-minute safety net: mark hot whatever the live rule missed, cool quiet hot leads.
    Idempotent: running it twice changes nothing the second time."""
    now = now or timezone.now()
    company = CompanySettings.load()
    since = now - timedelta(minutes=company.hot_lead_window_minutes)
    candidates = (PreviewEvent.objects.filter(kind=PreviewEvent.Kind.VIEW, created_at__gte=since)
                  .values("lead_id").annotate(n=Count("pk")).filter(n__gte=company.hot_lead_views)
                  .values_list("lead_id", flat=True))
    marked = 0
    for lead in Lead.objects.filter(pk__in=list(candidates)).exclude(priority=Lead.Priority.HOT):
        marked += lead_mark_hot(lead=lead, trigger="sweep", now=now, company=company)
    quiet_since = now - timedelta(hours=company.hot_lead_cool_hours)
    cooled = Lead.objects.filter(priority=Lead.Priority.HOT).filter(
        Q(last_viewed_at__lt=quiet_since) | Q(last_viewed_at__isnull=True, hot_at__lt=quiet_since)
    ).update(priority=Lead.Priority.WARM, updated_at=now)
    return {"marked_hot": marked, "cooled": cooled}
