"""Preview selectors: the page's context and a lead's preview analytics, queries pinned."""

from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
import time_machine

from crm.models import PreviewEvent
from crm.selectors.previews import DEFAULT_SECTIONS, preview_analytics, preview_page_context, sections_for
from tests.factories import CompanySettingsFactory, LeadFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 7, 15, 17, 0, tzinfo=dt_timezone.utc)


def test_sections_follow_the_category():
    assert sections_for("Emergency Plumber")[0] == "Emergency repairs"
    assert sections_for("") == DEFAULT_SECTIONS == sections_for("aquarium shop")


def test_page_context_uses_the_brand_the_facts_and_the_first_number(django_assert_num_queries):
    CompanySettingsFactory(preview_brand_name="Brightside", sender_numbers="+15125550100\n+15125550101")
    lead = LeadFactory(category="dentist", enrichment_data={"facts": {"hours": {"monday": "9-5"}}})
    with django_assert_num_queries(1):
        context = preview_page_context(lead=lead)
    assert context["brand_name"] == "Brightside" and context["text_number"] == "+15125550100"
    assert context["hours"] == {"monday": "9-5"} and context["services"][0] == "Check-ups and cleaning"


def test_analytics_counts_visits_views_time_sections_and_clicks(django_assert_num_queries):
    lead = LeadFactory()

    def event(kind, minutes_ago, session="s-aaaaaaaa", **extra):
        row = PreviewEvent.objects.create(lead=lead, kind=kind, session_id=session, **extra)
        PreviewEvent.objects.filter(pk=row.pk).update(created_at=NOW - timedelta(minutes=minutes_ago))

    event("view", 120)
    event("ping", 119, seconds=15)
    event("view", 60)  # 59 minutes later in the same session: a second visit
    event("section", 59, target="Reviews")
    event("cta_click", 58, target="claim")
    event("view", 10, session="s-bbbbbbbb", )
    event("view", 60 * 24 * 3)  # three days ago
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(5):
        result = preview_analytics(lead=lead, days=7)
    assert (result["visits"], result["views"], result["clicks"], result["seconds"]) == (4, 4, 1, 15)
    assert result["sections"] == {"Reviews": 1} and result["click_targets"] == {"claim": 1}
    assert len(result["views_per_day"]) == 7 and sum(result["views_per_day"]) == 4
    assert result["views_per_day"][-1] == 3 and result["views_per_day"][-4] == 1


@pytest.mark.parametrize("colour", ["#4f46e5", "#f97316", "#facc15", "#ffffff", "#22d3ee", "#111827", "nonsense", ""])
def test_the_brand_colour_always_carries_white_text(colour):
    from crm.selectors.previews import brand_colour, contrast_with_white

    shown = brand_colour(colour)
    rgb = tuple(int(shown[i:i + 2], 16) for i in (1, 3, 5))
    assert contrast_with_white(rgb) >= 4.5
    if colour in ("#4f46e5", "#111827"):
        assert shown == colour  # dark enough already: kept as chosen
