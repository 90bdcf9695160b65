"""Reads for preview pages and for the preview analytics shown on the lead page."""

import re
from collections import defaultdict
from datetime import timedelta

from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from crm.models import CompanySettings, Lead, PreviewEvent
from crm.services.messaging.templates import checkout_claim_url

VISIT_GAP = timedelta(minutes=30)

# Sections of the mock website by category keyword; the first match wins.
CATEGORY_SECTIONS = [
    ("plumb", ["Emergency repairs", "Drains and pipes", "Water heaters"]),
    ("dent", ["Check-ups and cleaning", "Cosmetic dentistry", "New patients welcome"]),
    ("salon", ["Cuts and styling", "Colour", "Book online"]),
    ("hair", ["Cuts and styling", "Colour", "Book online"]),
    ("barber", ["Cuts", "Beard trims", "Walk-ins welcome"]),
    ("roof", ["Roof repair", "Replacements", "Free inspections"]),
    ("cafe", ["Coffee", "Breakfast and lunch", "Order ahead"]),
    ("coffee", ["Coffee", "Pastries", "Order ahead"]),
    ("restaurant", ["Menu", "Reservations", "Catering"]),
    ("grill", ["Menu", "Reservations", "Catering"]),
    ("auto", ["Diagnostics", "Brakes and tyres", "Oil changes"]),
    ("tire", ["Tyres", "Brakes", "Alignment"]),
    ("law", ["Practice areas", "Free consultation", "About the firm"]),
    ("landscap", ["Lawn care", "Design and planting", "Seasonal clean-ups"]),
    ("clean", ["Home cleaning", "Office cleaning", "Move-out cleans"]),
    ("electric", ["Repairs", "Panel upgrades", "Lighting"]),
    ("hvac", ["Heating", "Cooling", "Maintenance plans"]),
    ("chiro", ["Adjustments", "Sports injuries", "New patients"]),
]
DEFAULT_SECTIONS = ["Our services", "Why choose us", "Get in touch"]


def sections_for(category: str) -> list[str]:
    category = (category or "").lower()
    for key, sections in CATEGORY_SECTIONS:
        if key in category:
            return sections
    return DEFAULT_SECTIONS


DEFAULT_BRAND = "#4f46e5"
HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# WCAG 2 AA for normal text, with a little room for anti-aliasing.
TEXT_CONTRAST = 4.6


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(rgb: tuple[float, float, float]) -> float:
    return 1.05 / (_luminance(rgb) + 0.05)


def brand_colour(colour: str) -> str:
    """The company's colour, darkened just enough that white text on it (and it as text on
    white) meets WCAG 2 AA, whatever colour an admin picks."""
    colour = colour if HEX_COLOUR.fullmatch(colour or "") else DEFAULT_BRAND
    rgb = tuple(float(int(colour[i:i + 2], 16)) for i in (1, 3, 5))
    while contrast_with_white(rgb) < TEXT_CONTRAST:
        rgb = tuple(c * 0.96 for c in rgb)
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def preview_page_context(*, lead: Lead) -> dict:
    company = CompanySettings.load()
    facts = (lead.enrichment_data or {}).get("facts", {})
    senders = [n.strip() for n in company.sender_numbers.splitlines() if n.strip()]
    return {
        "lead": lead,
        "company": company,
        "brand_name": company.preview_brand_name or company.name,
        "color": brand_colour(company.preview_primary_color),
        "facts": facts,
        "hours": facts.get("hours") or {},
        "services": sections_for(lead.category or facts.get("category", "")),
        "text_number": senders[0] if senders else "",
        "checkout_url": checkout_claim_url(lead),
    }


def preview_analytics(*, lead: Lead, days: int = 14) -> dict:
    """Visits, views, time, clicks, last seen, sections and views per day for one lead."""
    events = PreviewEvent.objects.filter(lead=lead)
    totals = events.aggregate(
        views=Count("pk", filter=Q(kind=PreviewEvent.Kind.VIEW)),
        clicks=Count("pk", filter=Q(kind=PreviewEvent.Kind.CTA_CLICK)),
        seconds=Sum("seconds"),
        last_seen=Max("created_at"),
    )
    visits = 0
    last_by_session: dict[str, object] = {}
    for session_id, created_at in events.order_by("created_at").values_list("session_id", "created_at")[:5000]:
        previous = last_by_session.get(session_id)
        if previous is None or created_at - previous > VISIT_GAP:
            visits += 1
        last_by_session[session_id] = created_at
    sections = defaultdict(int)
    for target, n in (events.filter(kind=PreviewEvent.Kind.SECTION).values_list("target")
                      .annotate(n=Count("pk")).order_by("-n")):
        sections[target] = n
    clicks = dict(events.filter(kind=PreviewEvent.Kind.CTA_CLICK).values_list("target").annotate(n=Count("pk")))
    since = timezone.now() - timedelta(days=days - 1)
    per_day = dict(events.filter(kind=PreviewEvent.Kind.VIEW, created_at__gte=since)
                   .annotate(day=TruncDate("created_at")).values_list("day").annotate(n=Count("pk")))
    today = timezone.localdate()
    day_labels = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    return {
        "visits": visits,
        "views": totals["views"],
        "clicks": totals["clicks"],
        "seconds": totals["seconds"] or 0,
        "last_seen": totals["last_seen"],
        "sections": dict(sections),
        "click_targets": clicks,
        "days": [d.strftime("%b %d") for d in day_labels],
        "views_per_day": [per_day.get(d, 0) for d in day_labels],
    }
