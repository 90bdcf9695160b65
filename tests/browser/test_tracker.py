"""The preview page's tracker in real Chromium: what it sends, when, and what is counted."""

import json
import time

import pytest
from django.core.cache import cache

from crm.models import Lead, PreviewEvent
from tests.factories import CompanySettingsFactory, LeadFactory

FACTS = {"rating": 4.7, "review_count": 88, "hours": {"monday": "8 AM-5 PM", "saturday": "Closed"}}
# Stands in for the browser hiding the page (tab switched, phone locked): headless pages are
# always visible, and a beacon sent from a page being closed is not reliably delivered there.
FAKE_VISIBILITY = """
    window.__visibility = %s;
    Object.defineProperty(document, "visibilityState", {configurable: true, get: () => window.__visibility});
    Object.defineProperty(document, "hidden", {configurable: true, get: () => window.__visibility !== "visible"});
    window.__setVisibility = (state) => {
        window.__visibility = state;
        document.dispatchEvent(new Event("visibilitychange"));
    };
"""


@pytest.fixture
def lead(transactional_db):
    cache.clear()
    CompanySettingsFactory(sender_numbers="+15550000001", hot_lead_on_cta_click=False)
    return LeadFactory(business_name="Rivera Plumbing", enrichment_data={"facts": FACTS})


def _track(page) -> list[dict]:
    """Every event the page's tracker posts, in order."""
    sent: list[dict] = []

    def on_request(request):
        if request.method == "POST" and request.url.endswith("/t/"):
            # DevTools does not hand over the body of a beacon sent with a Blob: the server saw it.
            body = json.loads(request.post_data) if request.post_data else {"type": "(beacon)"}
            sent.append({**body, "content_type": request.headers.get("content-type")})

    page.on("request", on_request)
    return sent


def _wait_for(page, condition, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(50)
    return True


def test_view_sections_click_and_leave_are_sent_and_counted(live_server, visitor_context, lead, db_read):
    page = visitor_context.new_page()
    page.add_init_script(FAKE_VISIBILITY % '"visible"')
    sent = _track(page)
    page.goto(f"{live_server.url}/p/{lead.preview_token}/")
    assert _wait_for(page, lambda: any(e["type"] == "view" for e in sent))

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expected_sections = {"hero", "services", "reviews", "hours", "contact"}
    for selector in ("#services", "#reviews", "#hours", "#contact"):
        page.locator(selector).scroll_into_view_if_needed()
        page.wait_for_timeout(100)
    assert _wait_for(page, lambda: expected_sections <= {e["target"] for e in sent if e["type"] == "section"})

    page.locator('.dock [data-cta="callback"]').click()
    assert page.locator("#thanks-callback").is_visible()
    assert _wait_for(page, lambda: any(e["type"] == "cta_click" for e in sent))

    page.wait_for_timeout(1200)
    page.evaluate('window.__setVisibility("hidden")')
    assert _wait_for(page, lambda: any(e["type"] in ("leave", "(beacon)") for e in sent))

    views = [e for e in sent if e["type"] == "view"]
    sections = [e["target"] for e in sent if e["type"] == "section"]
    clicks = [e["target"] for e in sent if e["type"] == "cta_click"]
    assert len(views) == 1
    assert len(sections) == len(set(sections)), "each section is sent once per page load"
    assert clicks == ["callback"]
    assert {e["content_type"] for e in sent} == {"application/json"}
    readable = [e for e in sent if e["type"] != "(beacon)"]
    sessions = {e["session"] for e in readable}
    assert len(sessions) == 1 and len(sessions.pop()) >= 16
    assert all(e["nonce"] for e in readable)

    stored = db_read(lambda: list(PreviewEvent.objects.filter(lead=lead).values_list("kind", "target", "seconds")),
                     until=lambda rows: len(rows) == len(sent))
    assert len(stored) == len(sent)
    assert ("cta_click", "callback", 0) in stored
    assert any(kind == "leave" and seconds >= 1 for kind, _, seconds in stored)
    lead = db_read(lambda: Lead.objects.get(pk=lead.pk))
    assert lead.preview_views == 1 and lead.preview_clicks == 1 and lead.preview_seconds >= 1


def test_a_page_opened_hidden_is_a_view_only_once_it_is_shown(live_server, visitor_context, lead):
    page = visitor_context.new_page()
    page.add_init_script(FAKE_VISIBILITY % '"hidden"')
    sent = _track(page)
    page.goto(f"{live_server.url}/p/{lead.preview_token}/")
    page.wait_for_timeout(800)
    assert [e for e in sent if e["type"] == "view"] == [], "a prerendered or background tab is not a view"

    page.evaluate('window.__setVisibility("visible")')
    assert _wait_for(page, lambda: any(e["type"] == "view" for e in sent))
    page.evaluate('window.__setVisibility("hidden")')
    page.evaluate('window.__setVisibility("visible")')
    page.wait_for_timeout(300)
    assert len([e for e in sent if e["type"] == "view"]) == 1, "one view per page load"


def test_a_visit_keeps_its_id_across_pages_and_a_new_one_starts_after_30_minutes(
    live_server, visitor_context, lead
):
    url = f"{live_server.url}/p/{lead.preview_token}/"
    first = visitor_context.new_page()
    first_sent = _track(first)
    first.goto(url)
    assert _wait_for(first, lambda: any(e["type"] == "view" for e in first_sent))
    second = visitor_context.new_page()
    second_sent = _track(second)
    second.goto(url)
    assert _wait_for(second, lambda: any(e["type"] == "view" for e in second_sent))
    assert first_sent[0]["session"] == second_sent[0]["session"]

    # Age the stored visit by 31 minutes: the next page starts a new visit.
    second.evaluate("""() => {
        for (const key of Object.keys(localStorage).filter((k) => k.startsWith("crm_pv_"))) {
            const visit = JSON.parse(localStorage.getItem(key));
            visit.last -= 31 * 60 * 1000;
            localStorage.setItem(key, JSON.stringify(visit));
        }
    }""")
    third = visitor_context.new_page()
    third_sent = _track(third)
    third.goto(url)
    assert _wait_for(third, lambda: any(e["type"] == "view" for e in third_sent))
    assert third_sent[0]["session"] != first_sent[0]["session"]


def test_headless_chrome_is_not_counted(live_server, new_context, lead, db_read):
    page = new_context().new_page()  # Playwright's own user agent says HeadlessChrome
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/t/")) as first:
        page.goto(f"{live_server.url}/p/{lead.preview_token}/")
    assert first.value.status == 202
    page.wait_for_timeout(300)
    assert db_read(lambda: PreviewEvent.objects.filter(lead=lead).count()) == 0
