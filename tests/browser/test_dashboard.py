"""The dashboard in real Chromium: the admin changes the date range and the numbers change; a
click on a KPI opens the filtered lead list whose count is that number; a rep sees only their
own numbers and no company-wide card."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from crm.models import Lead
from tests.factories import TEST_PASSWORD, AdminUserFactory, LeadFactory, RepUserFactory

START = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # noon on 2 December in New York
NOVEMBER_DAY = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)


def _login(page, live_server, user) -> None:
    page.goto(f"{live_server.url}{reverse('admin:login')}?next={reverse('admin:index')}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", TEST_PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")


def _kpi(page, key: str) -> int:
    return int(page.locator(f"#kpi-{key} .kpi-value").inner_text().replace(",", "").replace("$", "").split(".")[0])


def _list_count(page) -> int:
    """The changelist's own count of the rows it lists ("5 leads", "1 lead")."""
    text = page.locator("body").inner_text()
    found = re.search(r"(\d[\d,]*)\s+leads?\b", text)
    assert found, text[:2000]
    return int(found.group(1).replace(",", ""))


@pytest.mark.django_db(transaction=True)
def test_the_admin_changes_the_range_and_follows_a_kpi_and_a_rep_sees_their_own(live_server, new_context):
    cache.clear()
    with time_machine.travel(START, tick=True):
        admin = AdminUserFactory(username="founder")
        alice, bob = RepUserFactory(username="alice_dash"), RepUserFactory(username="bob_dash")
        for rep, count in ((alice, 2), (bob, 1)):
            for _ in range(count):
                LeadFactory(assigned_rep=rep)
        november = [LeadFactory(assigned_rep=bob) for _ in range(5)]
        Lead.objects.filter(pk__in=[lead.pk for lead in november]).update(created_at=NOVEMBER_DAY)

        page = new_context(viewport={"width": 1440, "height": 900}).new_page()
        _login(page, live_server, admin)
        page.wait_for_selector("#kpi-new")
        assert _kpi(page, "new") == 3  # this month: 1-2 December
        assert page.locator("canvas.chart").count() >= 4  # Unfold's chart components, drawn locally

        page.select_option("#range-preset", "last_month")
        with page.expect_navigation():
            page.click("#range-apply")
        assert _kpi(page, "new") == 5
        assert "range=last_month" in page.url

        with page.expect_navigation():
            page.click("#kpi-new")
        assert "/admin/crm/lead/" in page.url
        assert _list_count(page) == 5

        # A chart segment opens its list too: the funnel's "Imported" bar.
        page.go_back()
        page.wait_for_selector("#funnel")
        bar = page.evaluate("""() => {
            const canvas = document.querySelector('#funnel').closest('div').querySelector('canvas');
            const chart = Chart.getChart(canvas), box = canvas.getBoundingClientRect();
            const el = chart.getDatasetMeta(0).data[0];  // "Imported"
            return {x: box.left + el.x, y: box.top + (el.y + el.base) / 2};
        }""")
        with page.expect_navigation():
            page.mouse.click(bar["x"], bar["y"])
        assert "/admin/crm/lead/" in page.url and _list_count(page) == 5

        rep_page = new_context(viewport={"width": 1440, "height": 900}).new_page()
        _login(rep_page, live_server, alice)
        rep_page.wait_for_selector("#kpi-new")
        assert _kpi(rep_page, "new") == 2
        assert rep_page.locator("#kpi-mrr").count() == 0 and rep_page.locator("#kpi-revenue").count() == 0
        assert rep_page.locator("#rep-table").count() == 0 and rep_page.locator("#range-rep").count() == 0
        assert "bob_dash" not in rep_page.content()
        assert rep_page.locator("#rep-queue-counts").is_visible()
        with rep_page.expect_navigation():
            rep_page.click("#kpi-new")
        assert _list_count(rep_page) == 2
