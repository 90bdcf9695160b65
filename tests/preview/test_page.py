"""The public preview page: personalised, noindex, first-party only, and a GET is never a view."""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from crm.models import CompanySettings, PreviewEvent
from crm.services.tracking import tracking_nonce_valid as _nonce_ok
from tests.factories import CompanySettingsFactory, LeadFactory

pytestmark = pytest.mark.django_db


class AssetCollector(HTMLParser):
    """Every URL the page makes the browser fetch by itself: scripts, stylesheets, images."""

    def __init__(self):
        super().__init__()
        self.assets: list[str] = []
        self.scripts: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts.append(attrs)
            if attrs.get("src"):
                self.assets.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.assets.append(attrs["href"])
        elif tag in ("img", "source", "iframe") and attrs.get("src"):
            self.assets.append(attrs["src"])


@pytest.fixture
def lead():
    CompanySettingsFactory(preview_brand_name="Brightsite", preview_primary_color="#0f766e",
                           sender_numbers="+15550000001")
    return LeadFactory(
        business_name="Rivera Plumbing", contact_first_name="Ana", category="Plumber", city="Austin", state="TX",
        phone="+15125550123", first_line="Austin folks searching for a plumber should find Rivera Plumbing first.",
        enrichment_data={"source": "offline", "facts": {
            "rating": 4.8, "review_count": 127,
            "hours": {"monday": "8 AM-6 PM", "tuesday": "8 AM-6 PM", "sunday": "Closed"},
        }},
    )


def test_page_renders_personalised_noindex_and_first_party_only(lead):
    response = Client().get(f"/p/{lead.preview_token}/")
    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    html = response.content.decode()
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "Rivera Plumbing" in html and "Plumber in Austin, TX" in html
    assert "Austin folks searching for a plumber should find Rivera Plumbing first." in html
    assert "Emergency repairs" in html  # sections chosen by category
    assert "4.8" in html and "127 Google reviews" in html
    assert "8 AM-6 PM" in html
    assert 'href="tel:+15125550123"' in html
    assert 'href="sms:+15550000001?body=' in html
    for section in ("hero", "services", "reviews", "hours", "contact"):
        assert f'data-section="{section}"' in html
    for cta in ("claim", "callback", "text"):
        assert f'data-cta="{cta}"' in html
    assert "--brand: #0f766e" in html

    parser = AssetCollector()
    parser.feed(html)
    external = [url for url in parser.assets if re.match(r"^(https?:)?//", url)]
    assert external == [], f"third-party assets on the preview page: {external}"
    trackers = [s for s in parser.scripts if s.get("src", "").endswith("preview/tracker.js")]
    assert len(trackers) == 1
    tracker = trackers[0]
    assert tracker["data-endpoint"] == f"http://testserver/p/{lead.preview_token}/t/"
    # A signed, timestamped nonce: it must verify for this token (not equal one made a second later).
    assert _nonce_ok(tracker["data-nonce"], lead.preview_token)
    assert not _nonce_ok(tracker["data-nonce"], lead.preview_token + "x")
    assert "defer" in tracker


def test_without_enrichment_reviews_and_hours_are_left_out(db):
    lead = LeadFactory(business_name="Plain Co", category="", enrichment_data={}, first_line="")
    html = Client().get(f"/p/{lead.preview_token}/").content.decode()
    assert "Plain Co" in html
    assert 'data-section="reviews"' not in html and 'data-section="hours"' not in html
    assert 'data-section="services"' in html and 'data-section="contact"' in html


def test_claim_goes_to_checkout_when_there_is_one(lead, monkeypatch):
    import preview.views

    original = preview.views.preview_page_context

    def with_checkout(*, lead):
        return {**original(lead=lead), "checkout_url": "https://checkout.stripe.com/c/pay/cs_test_123"}

    monkeypatch.setattr(preview.views, "preview_page_context", with_checkout)
    html = Client().get(f"/p/{lead.preview_token}/").content.decode()
    assert 'href="https://checkout.stripe.com/c/pay/cs_test_123" data-cta="claim"' in html
    assert 'id="thanks-claim"' not in html


def test_without_a_text_number_there_is_no_text_button(lead):
    CompanySettings.objects.filter(pk=1).update(sender_numbers="")
    html = Client().get(f"/p/{lead.preview_token}/").content.decode()
    assert 'data-cta="text"' not in html
    assert 'data-cta="claim"' in html and 'data-cta="callback"' in html


def test_unknown_token_is_a_plain_404_that_reveals_nothing(lead):
    token = "nosuchtoken-" + "x" * 20
    response = Client().get(f"/p/{token}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert token not in body
    assert "Rivera" not in body


def test_a_get_of_the_page_records_nothing(lead, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        Client().get(f"/p/{lead.preview_token}/", HTTP_USER_AGENT="Mozilla/5.0 Chrome/130.0.0.0 Safari/537.36")
    assert not PreviewEvent.objects.exists()
    lead.refresh_from_db()
    assert lead.preview_views == 0 and lead.last_viewed_at is None
