"""The pages every lead sees pass axe-core's WCAG 2 A and AA rules in real Chromium (colour
contrast included), so they stay readable for everyone."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.conftest import DESKTOP_CHROME_UA
from tests.factories import CompanySettingsFactory, LeadFactory

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
           "resultTypes": ["violations"]}
FACTS = {"rating": 4.7, "review_count": 88, "hours": {"monday": "8 AM-5 PM", "saturday": "Closed"}}


def axe_violations(page) -> list[str]:
    results = Axe().run(page, options=WCAG_AA)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['html'][:120]})"
            for v in results.response["violations"]]


# The default indigo, the demo's orange, and colours light enough that white text on them fails.
BRAND_COLOURS = ["#4f46e5", "#f97316", "#facc15", "#22d3ee", "#a3e635", "#111827"]


@pytest.fixture(params=BRAND_COLOURS, ids=lambda colour: colour.lstrip("#"))
def lead(request, transactional_db):
    CompanySettingsFactory(sender_numbers="+15550000001", preview_brand_name="Brightside Studio",
                           preview_primary_color=request.param)
    return LeadFactory(business_name="Rivera Plumbing", category="plumber", city="Austin", state="TX",
                       first_line="When a pipe bursts in Austin, people search fast.",
                       enrichment_data={"facts": FACTS})


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"])
def test_the_preview_page_has_no_wcag_aa_violations(new_context, live_server, lead, viewport):
    page = new_context(user_agent=DESKTOP_CHROME_UA, viewport=viewport).new_page()
    page.goto(f"{live_server.url}/p/{lead.preview_token}/")
    found = axe_violations(page)
    page.close()
    live_server.gate.wait_quiet()  # the tracker's last beacon lands before the database is emptied
    assert found == []


# The pages around paying: the local checkout (development without Stripe keys), the "not
# available" page (production without keys), and the success and cancel pages Stripe returns to.
CHECKOUT_PAGES = [("local checkout", "claim/", True, 200), ("claim unavailable", "claim/", False, 503),
                  ("success", "claim/success/", False, 200), ("cancel", "claim/cancel/", False, 200)]


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"])
def test_the_checkout_pages_have_no_wcag_aa_violations(new_context, live_server, lead, settings, viewport):
    settings.STRIPE_SECRET_KEY = ""
    page = new_context(user_agent=DESKTOP_CHROME_UA, viewport=viewport).new_page()
    found = {}
    for name, path, debug, status in CHECKOUT_PAGES:
        settings.DEBUG = debug
        response = page.goto(f"{live_server.url}/p/{lead.preview_token}/{path}")
        assert response.status == status, name
        if name == "local checkout":
            assert page.get_by_role("button", name=re.compile(r"^Pay ")).count() == 1
        found[name] = axe_violations(page)
    page.close()
    assert found == {name: [] for name, *_ in CHECKOUT_PAGES}
