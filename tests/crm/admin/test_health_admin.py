"""System -> Health: the doctor's checks in the admin, for the ADMIN role only."""

from django.core.cache import cache
from django.urls import reverse

from crm.selectors.health import OFF


def test_the_health_page_lists_every_check_with_its_fix(admin_client, settings):
    cache.clear()
    settings.STRIPE_SECRET_KEY = ""
    page = admin_client.get(reverse("crm_health"))
    assert page.status_code == 200
    checks = {check.key: check for check in page.context["checks"]}
    assert len(checks) == 10 and checks["stripe"].status == OFF
    html = page.content.decode()
    assert 'data-check="worker" data-status="fail"' in html and "qcluster" in html
    assert admin_client.post(reverse("crm_health")).status_code == 302


def test_a_rep_cannot_open_it(rep_client):
    assert rep_client.get(reverse("crm_health")).status_code == 403
