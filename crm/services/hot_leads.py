"""Hot leads: the moment a lead passes the view threshold it becomes HOT, once per episode,
its rep is told and its sequences pause; quiet leads cool back to WARM."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from crm.models import CompanySettings, Enrollment, Lead, Notification, PreviewEvent, TimelineEvent
from crm.services.assignment import lead_round_robin
from crm.services.notifications import notify

HOT_PAUSE_REASON = "hot lead: a person takes over"


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
        if lead.assigned_rep_id is None and company.auto_assign_leads:
            lead_round_robin(lead=lead, via="round-robin: hot lead without a rep")  # before notify: the rep is told
        text, data = _context_text(lead, since, now, trigger)
        TimelineEvent.objects.create(lead=lead, kind=TimelineEvent.Kind.HOT, data={**data, "text": text})
        notify(lead=lead, kind=Notification.Kind.HOT_LEAD, text=f"{lead.business_name} is hot: {text}.")
        Enrollment.objects.filter(lead=lead, status=Enrollment.Status.ACTIVE).update(
            status=Enrollment.Status.PAUSED, stop_reason=HOT_PAUSE_REASON)
    return True


def hot_rule_leads(*, lead_ids: set[int] | None, clicked: set[int], now: datetime,
                   company: CompanySettings) -> dict[int, str]:
    """The hot-lead rule, the one place it is written: lead id -> what made it hot ("views":
    at least N views in the window; "click": a button clicked, when that setting is on), among
    `lead_ids` (None: every lead with views in the window) and the leads in `clicked`. One query."""
    since = now - timedelta(minutes=company.hot_lead_window_minutes)
    views = PreviewEvent.objects.filter(kind=PreviewEvent.Kind.VIEW, created_at__gte=since)
    if lead_ids is not None:
        views = views.filter(lead_id__in=lead_ids)
    qualifying = {lead_id: "views" for lead_id in views.values("lead_id").annotate(n=Count("pk"))
                  .filter(n__gte=company.hot_lead_views).values_list("lead_id", flat=True)}
    if company.hot_lead_on_cta_click:
        for lead_id in clicked:
            qualifying.setdefault(lead_id, "click")
    return qualifying


def hot_leads_mark(*, lead_ids: set[int] | None, clicked: set[int] = frozenset(), now: datetime | None = None,
                   company: CompanySettings | None = None, trigger: str = "") -> int:
    """Apply the hot rule to these leads (after events, or all of them for the sweep): each one
    that meets it and is not hot or paid yet becomes HOT. Returns how many did."""
    now = now or timezone.now()
    company = company or CompanySettings.load()
    qualifying = hot_rule_leads(lead_ids=lead_ids, clicked=set(clicked), now=now, company=company)
    if not qualifying:
        return 0
    marked = 0
    for lead in Lead.objects.filter(pk__in=qualifying).exclude(priority=Lead.Priority.HOT).exclude(
            status=Lead.Status.PAID).select_related("assigned_rep"):
        marked += lead_mark_hot(lead=lead, trigger=trigger or qualifying[lead.pk], now=now, company=company)
    return marked


def lead_check_hot(*, lead: Lead, kind: str, now: datetime | None = None,
                   company: CompanySettings | None = None) -> bool:
    """The hot rule after one counted event of this lead (the request path)."""
    if lead.priority == Lead.Priority.HOT or lead.status == Lead.Status.PAID:
        return False
    if kind not in (PreviewEvent.Kind.VIEW, PreviewEvent.Kind.CTA_CLICK):
        return False
    clicked = {lead.pk} if kind == PreviewEvent.Kind.CTA_CLICK else set()
    now = now or timezone.now()
    if not hot_leads_mark(lead_ids={lead.pk}, clicked=clicked, now=now, company=company):
        return False
    lead.priority, lead.hot_at = Lead.Priority.HOT, now
    return True


def hot_leads_sweep(*, now: datetime | None = None) -> dict:
    """The every-minute safety net: mark hot whatever the live rule missed, cool quiet hot leads.
    Idempotent: running it twice changes nothing the second time."""
    now = now or timezone.now()
    company = CompanySettings.load()
    marked = hot_leads_mark(lead_ids=None, now=now, company=company, trigger="sweep")
    quiet_since = now - timedelta(hours=company.hot_lead_cool_hours)
    cooled = Lead.objects.filter(priority=Lead.Priority.HOT).filter(
        Q(last_viewed_at__lt=quiet_since) | Q(last_viewed_at__isnull=True, hot_at__lt=quiet_since)
    ).update(priority=Lead.Priority.WARM, updated_at=now)
    return {"marked_hot": marked, "cooled": cooled}
