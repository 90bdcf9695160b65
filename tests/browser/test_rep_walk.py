"""The rep's workspace end to end, in real Chromium, on a desktop and on a phone (390 x 844):
a rep is on the queue; a lead turns hot (three views of its preview in another browser) and
is at the top within 2 s; the rep opens it and clicks Call (the fake Twilio Voice server
rings, fetches our TwiML and posts signed status callbacks to the live server); the call
completes; the rep logs "callback tomorrow 10:00" and the lead leaves the queue until then."""

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from crm.models import Call, Lead, TimelineEvent
from crm.selectors.queue import rep_queue
from fakes.twilio_voice_server import FakeTwilioVoiceServer
from tests.browser.conftest import DESKTOP_CHROME_UA
from tests.factories import TEST_PASSWORD, CompanySettingsFactory, LeadFactory, RepUserFactory, SavedReplyFactory

HOT_DEADLINE_SECONDS = 2.0
# 11:00 in Chicago (the lead), 12:00 in New York (the rep): inside calling hours.
START = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
CALLBACK_LOCAL = "2026-12-03T10:00"  # tomorrow 10:00 in the rep's zone (New York)
CALLBACK_UTC = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
ACCOUNT, TOKEN = "AC" + "7" * 32, "walk-auth-token"
VIEWPORTS = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def fake_voice():
    with FakeTwilioVoiceServer(account_sid=ACCOUNT, auth_token=TOKEN, talk_seconds=73, step_delay=0.15) as fake:
        yield fake


@pytest.fixture
def twilio_live(settings, live_server, fake_voice):
    """The app talks to the fake; the fake signs and posts to the live server's public URL."""
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT, TOKEN
    settings.TWILIO_API_BASE_URL = fake_voice.base_url
    settings.PUBLIC_BASE_URL = live_server.url
    return fake_voice


def _is_view_post(response) -> bool:
    request = response.request
    if request.method != "POST" or not request.url.endswith("/t/"):
        return False
    try:
        return (request.post_data_json or {}).get("type") == "view"
    except ValueError:
        return False


def _queue_ids(page) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all("a.queue-row", "rows => rows.map(r => r.dataset.leadId)")]


def _fits(page, selector: str, width: int) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"{selector} overflows {width} px: {box}"


@pytest.mark.parametrize("device", list(VIEWPORTS))
def test_rep_walk_hot_lead_call_and_callback(device, transactional_db, live_server, new_context, twilio_live,
                                             db_read):
    viewport = VIEWPORTS[device]
    cache.clear()  # rate-limit counters left by other tests
    with time_machine.travel(START, tick=True):
        CompanySettingsFactory(hot_lead_views=3, hot_lead_window_minutes=10, call_caller_id="+15125550100")
        rep = RepUserFactory(username=f"rep_walk_{device}")
        rep.rep_profile.phone = "+15125550111"
        rep.rep_profile.save()
        lead = LeadFactory(business_name="Rivera Plumbing", assigned_rep=rep, city="Springfield", state="IL",
                           phone="+15125550142")
        SavedReplyFactory(title="Intro", body="Hi {contact_first_name}, it's {business_name}'s new site")
        # Already in the queue: a follow-up that came due an hour ago.
        LeadFactory(business_name="Older Follow-up", assigned_rep=rep, state="IL", next_action="Check in",
                    next_action_at=START - timedelta(hours=1))

        rep_page = new_context(viewport=viewport, is_mobile=device == "phone", has_touch=device == "phone",
                               user_agent=DESKTOP_CHROME_UA).new_page()
        rep_page.goto(f"{live_server.url}/admin/login/?next={reverse('crm_my_queue')}")
        rep_page.fill("#id_username", rep.username)
        rep_page.fill("#id_password", TEST_PASSWORD)
        with rep_page.expect_navigation():
            rep_page.click("button[type=submit], input[type=submit]")
        assert rep_page.url.endswith(reverse("crm_my_queue")), rep_page.url
        rep_page.wait_for_selector("a.queue-row")
        assert lead.pk not in _queue_ids(rep_page)

        # The lead turns hot: three views of its preview on the owner's own phone.
        visitor = new_context(user_agent=DESKTOP_CHROME_UA)
        third_view_at = None
        for n in range(1, 4):
            page = visitor.new_page()
            with page.expect_response(_is_view_post, timeout=10_000) as view:
                page.goto(f"{live_server.url}/p/{lead.preview_token}/")
            third_view_at = time.monotonic()
            assert view.value.status == 201, f"view {n} answered {view.value.status}"
            page.close()

        rep_page.wait_for_function(
            "id => { const row = document.querySelector('a.queue-row'); return row && row.dataset.leadId === id; }",
            arg=str(lead.pk), timeout=10_000)
        elapsed = time.monotonic() - third_view_at
        assert elapsed < HOT_DEADLINE_SECONDS, f"the hot lead reached the top {elapsed:.2f} s after the third view"
        top = rep_page.locator("a.queue-row").first
        assert top.get_attribute("data-bucket") == "hot"
        _fits(rep_page, "a.queue-row >> nth=0", viewport["width"])

        # The rep opens it and clicks Call.
        with rep_page.expect_navigation():
            top.click()
        assert f"/admin/crm/lead/{lead.pk}/change/" in rep_page.url
        assert rep_page.locator("#tel-link").get_attribute("href") == "tel:+15125550142"
        _fits(rep_page, "#call-button", viewport["width"])
        with rep_page.expect_navigation():
            rep_page.click("#call-button")
        assert "your phone rings first" in rep_page.content()

        # The fake rings the rep, fetches the TwiML when they answer, and the call completes;
        # the page's calls list follows it without a reload.
        call = db_read(lambda: Call.objects.filter(lead=lead).first(), until=lambda c: c and c.provider_sid)
        assert twilio_live.wait_done(call.provider_sid)
        rep_page.wait_for_selector(f'[data-call="{call.pk}"][data-call-status="completed"]', timeout=10_000)
        rep_page.wait_for_function("() => !document.getElementById('call-button').disabled", timeout=5_000)
        assert rep_page.locator("#call-refusal").count() == 0
        call = db_read(lambda: Call.objects.get(pk=call.pk))
        assert (call.status, call.duration_seconds, call.rep_id) == (Call.Status.COMPLETED, 73, rep.pk)
        assert call.answered_at is not None and call.from_number == "+15125550100"
        placed = next(r for r in twilio_live.requests if r.path.endswith("/Calls.json"))
        assert placed.form["To"] == "+15125550111" and placed.form["From"] == "+15125550100"
        twiml = twilio_live.twiml[call.provider_sid]
        assert '<Dial callerId="+15125550100">' in twiml and 'statusCallbackMethod="POST">+15125550142</Number>' in twiml
        # Both legs reported; the duration is the lead's leg's talk time (73 s), not the rep's leg's
        # (which also counts the lead's phone ringing).
        assert {status for _, status, answer in twilio_live.callbacks if answer == 200} == {
            "initiated", "ringing", "twiml", "in-progress", "lead:in-progress", "lead:completed", "completed"}

        # A saved reply fills the reply box in one click, merge fields filled in for the lead.
        rep_page.click("[data-saved-reply]")
        assert rep_page.input_value("#conversation textarea[name=body]") == (
            f"Hi {lead.contact_first_name}, it's Rivera Plumbing's new site")
        _fits(rep_page, "#conversation textarea[name=body]", viewport["width"])
        _fits(rep_page, "#outcome-form", viewport["width"])

        # "Callback tomorrow 10:00", with the outcome's keyboard shortcut.
        rep_page.fill("#id_callback_at", CALLBACK_LOCAL)
        rep_page.locator("#id_callback_at").blur()
        with rep_page.expect_navigation():
            rep_page.keyboard.press("b")
        assert "Logged: Call back later." in rep_page.content()
        lead = db_read(lambda: Lead.objects.get(pk=lead.pk), until=lambda lead: lead.next_action_at is not None)
        assert lead.next_action_at == CALLBACK_UTC and lead.next_action == "Call back"
        assert db_read(lambda: Call.objects.get(pk=call.pk)).outcome == Call.Outcome.CALLBACK
        assert db_read(lambda: TimelineEvent.objects.filter(lead=lead, kind=TimelineEvent.Kind.CALL).count()) >= 3

        # Back on the queue, the lead is gone until tomorrow 10:00...
        rep_page.goto(f"{live_server.url}{reverse('crm_my_queue')}")
        rep_page.wait_for_selector("a.queue-row")
        assert lead.pk not in _queue_ids(rep_page)
        assert _queue_ids(rep_page), "the follow-up is still there"
        # ...when it comes back (still hot, so at the top).
        assert lead.pk not in [row.lead_id for row in db_read(
            lambda: rep_queue(rep_id=rep.pk, now=CALLBACK_UTC - timedelta(minutes=1)).rows)]
        rows = db_read(lambda: rep_queue(rep_id=rep.pk, now=CALLBACK_UTC + timedelta(minutes=1)).rows)
        assert rows[0].lead_id == lead.pk
