"""The public tracking endpoint: strict input, bots and staff not counted, rate limited."""

import json

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client, override_settings

from crm.models import Lead, PreviewEvent
from crm.services.tracking import tracking_nonce
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/130.0.0.0 Safari/537.36")


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


@pytest.fixture
def lead():
    return LeadFactory()


def post(client, lead, payload, ua=BROWSER_UA, raw=None, token=None):
    body = raw if raw is not None else json.dumps(payload)
    return client.post(f"/p/{token or lead.preview_token}/t/", data=body, content_type="application/json",
                       HTTP_USER_AGENT=ua)


def event(lead, kind="view", **extra):
    return {"type": kind, "session": "sess-0123456789", "nonce": tracking_nonce(lead.preview_token), **extra}


def test_a_view_from_the_script_is_counted(lead):
    response = post(Client(), lead, event(lead))
    assert response.status_code == 201 and response.json()["counted"] is True
    lead.refresh_from_db()
    assert lead.preview_views == 1 and lead.last_viewed_at is not None
    assert lead.status == Lead.Status.ENGAGED
    assert lead.engagement_score == pytest.approx(0.1)
    stored = PreviewEvent.objects.get(lead=lead)
    assert stored.ip_hash and "127.0.0.1" not in stored.ip_hash


@pytest.mark.parametrize("raw, status", [
    ("{not json", 400),
    ("[1, 2]", 400),
    (json.dumps({"type": "view", "session": "x" * 20, "pad": "y" * 3000}), 413),
    (json.dumps({"type": "explode", "session": "sess-0123456789"}), 400),
    (json.dumps({"type": "view", "session": "short"}), 400),
    (json.dumps({"type": "ping", "session": "sess-0123456789", "seconds": "9"}), 400),
])
def test_bad_input_is_refused_and_nothing_written(lead, raw, status):
    assert post(Client(), lead, None, raw=raw).status_code == status
    assert not PreviewEvent.objects.exists()


def test_unknown_token_is_404_and_reveals_nothing(lead):
    response = post(Client(), lead, event(lead), token="no-such-token-abc")
    assert response.status_code == 404
    assert b"no-such-token-abc" not in response.content
    assert not PreviewEvent.objects.exists()


def test_seconds_are_clamped(lead):
    post(Client(), lead, event(lead, "ping", seconds=99999))
    post(Client(), lead, event(lead, "leave", seconds=-5))
    assert list(PreviewEvent.objects.order_by("pk").values_list("seconds", flat=True)) == [3600, 0]


@pytest.mark.parametrize("ua", [
    "facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage link previews
    "WhatsApp/2.23.20.0 A", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36",
    "TelegramBot (like TwitterBot)", "LinkedInBot/1.0", "Discordbot/2.0", "curl/8.0", "",
])
def test_link_previews_crawlers_and_headless_browsers_are_not_counted(lead, ua):
    response = post(Client(), lead, event(lead), ua=ua)
    assert response.status_code == 202 and response.json()["counted"] is False
    assert not PreviewEvent.objects.exists()


def test_logged_in_staff_are_not_counted(lead, admin_client):
    response = post(admin_client, lead, event(lead))
    assert response.json()["counted"] is False
    assert not PreviewEvent.objects.exists()


def test_a_visitor_with_a_session_cookie_that_is_no_staff_sign_in_is_counted(lead, rep_user):
    rep_user.is_staff = False
    rep_user.save()
    signed_in = Client()
    signed_in.force_login(rep_user)
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session"
    assert [post(client, lead, event(lead)).status_code for client in (signed_in, stale)] == [201, 201]
    assert PreviewEvent.objects.count() == 2


def test_an_anonymous_event_does_not_read_the_session(lead):
    response = post(Client(), lead, event(lead))
    assert response.status_code == 201
    assert "Cookie" not in response.get("Vary", "")  # the session middleware marks a session read so


@pytest.mark.parametrize("ua, counted", [
    ("Mozilla/5.0 (compatible; Googlebot/2.1) " + "x" * 600, False),  # past the remembered length
    (BROWSER_UA + " " + "y" * 600, True),
])
def test_long_user_agents_are_judged_by_the_same_rule(lead, ua, counted):
    for _ in range(2):  # the second answer for a user agent may be a remembered one
        assert post(Client(), lead, event(lead), ua=ua).json()["counted"] is counted


def test_events_without_the_pages_nonce_are_not_counted(lead):
    other = LeadFactory()
    for payload in ({"type": "view", "session": "sess-0123456789"},
                    event(lead) | {"nonce": "forged"},
                    event(lead) | {"nonce": tracking_nonce(other.preview_token)}):
        assert post(Client(), lead, payload).json()["counted"] is False
    assert not PreviewEvent.objects.exists()


def test_a_get_of_the_page_is_never_a_view(lead):
    assert Client().get(f"/p/{lead.preview_token}/", HTTP_USER_AGENT=BROWSER_UA).status_code == 200
    assert Client().get(f"/p/{lead.preview_token}/t/").status_code == 405
    assert not PreviewEvent.objects.exists()


@override_settings(TRACKING_EVENTS_PER_MINUTE=3)
def test_rate_limit_per_address_and_link(lead):
    client = Client()
    statuses = [post(client, lead, event(lead, "ping", seconds=1)).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    assert PreviewEvent.objects.count() == 3
    other = LeadFactory()
    assert post(client, other, event(other, "ping", seconds=1)).status_code == 201  # per link


# --- hostile input (issue 10, points 2-4) ------------------------------------------------

@pytest.fixture(params=["database", "redis"])
def either_path(request, settings, worker_id):
    """The endpoint with and without Redis (queued or written in the request)."""
    if request.param == "redis":
        import redis

        url = f"redis://127.0.0.1:6379/{9 - (int(worker_id[2:]) if worker_id.startswith('gw') else 0)}"
        settings.REDIS_URL = url
        redis.Redis.from_url(url).flushdb()
        yield request.param
        redis.Redis.from_url(url).flushdb()
    else:
        yield request.param


@pytest.mark.parametrize("seconds", ["Infinity", "-Infinity", "NaN", "1e400", "-1e400", "1e300", "123456789"])
def test_non_finite_or_out_of_range_seconds_are_a_400_on_both_paths(lead, either_path, seconds):
    raw = '{"type": "ping", "session": "sess-0123456789", "seconds": %s, "nonce": "%s"}' % (
        seconds, tracking_nonce(lead.preview_token))
    response = post(Client(), lead, None, raw=raw)
    assert response.status_code == 400, response.content
    assert not PreviewEvent.objects.exists()


@pytest.mark.parametrize("path", ["/p/%00/", "/p/ab%00cd/t/", "/p/ab%00cd/", "/p/a/", "/p/" + "x" * 65 + "/",
                                  "/p/bad token/t/", "/p/%ff%fe/t/"])
def test_strings_that_cannot_be_tokens_are_a_404_before_any_query(path, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert Client().get(path).status_code == 404
        assert Client().post(path, "{}", content_type="application/json").status_code == 404


@override_settings(TRACKING_EVENTS_PER_ADDRESS=20)
def test_made_up_tokens_are_limited_per_address_whatever_the_token(lead, either_path, django_assert_max_num_queries):
    import secrets

    client = Client()
    statuses = []
    with django_assert_max_num_queries(20):  # at most one look-up per event the address may send
        for _ in range(300):
            token = secrets.token_urlsafe(24)
            statuses.append(client.post(f"/p/{token}/t/", json.dumps(event(lead)), content_type="application/json",
                                        HTTP_USER_AGENT=BROWSER_UA).status_code)
    assert statuses[:20] == [404] * 20 and set(statuses[20:]) == {429}
    # The same address is limited on real links too, until the minute is over.
    assert post(client, lead, event(lead)).status_code == 429


def test_an_unknown_token_is_looked_up_once_then_remembered(lead, either_path, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        for _ in range(5):
            assert post(Client(), lead, event(lead), token="no-such-token-abc").status_code == 404


def test_an_oversize_body_is_refused_by_its_length_before_it_is_read(lead):
    from django.test import RequestFactory

    from preview.views import track

    class Unreadable:
        def read(self, *args):
            raise AssertionError("the body was read")

        readline = read

    request = RequestFactory().post(f"/p/{lead.preview_token}/t/", "{}", content_type="application/json")
    request.META["CONTENT_LENGTH"] = str(2_500_000)
    request.META["wsgi.input"] = Unreadable()
    request._stream = Unreadable()
    assert track(request, lead.preview_token).status_code == 413
    assert not PreviewEvent.objects.exists()
