"""Generated input against every public endpoint (the preview page, tracking, the Twilio
webhooks, the login): whatever arrives, the answer is never a 500. The Django test client
re-raises an exception from a view, so a crash fails the test with its traceback."""

import json
import string

import pytest
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, given, settings, strategies as st
from twilio.request_validator import RequestValidator

from crm.services.tracking import tracking_nonce
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])
TOKEN, BASE = "fuzz-auth-token", "https://crm.example.com"

# Any text, including NUL bytes, surrogates' neighbours, control and URL characters.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=80)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=12)
EVENT = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["view", "ping", "leave", "cta_click", "section", "explode", ""]) | ANY_TEXT,
    "session": ANY_TEXT, "seconds": JSON, "target": JSON, "nonce": JSON})


@pytest.fixture
def lead(db, settings):
    settings.TWILIO_AUTH_TOKEN, settings.PUBLIC_BASE_URL = TOKEN, BASE
    cache.clear()
    return LeadFactory()


def _url_part(text: str) -> str:
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@FUZZ
@given(path=ANY_TEXT)
def test_preview_pages(lead, path):
    for url in (f"/p/{_url_part(path)}/", f"/p/{lead.preview_token}{_url_part(path)}/"):
        assert Client().get(url).status_code in (200, 301, 404)


@FUZZ
@given(event=EVENT, raw=st.binary(max_size=300), use_raw=st.booleans(), token_suffix=ANY_TEXT,
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
       user_agent=ANY_TEXT)
def test_tracking(lead, event, raw, use_raw, token_suffix, content_type, user_agent):
    if "nonce" not in event:
        event = {**event, "nonce": tracking_nonce(lead.preview_token)}
    body = raw if use_raw else json.dumps(event).encode()
    token = lead.preview_token + (_url_part(token_suffix) if token_suffix.isprintable() else "")
    response = Client().post(f"/p/{token}/t/", body, content_type=content_type,
                             HTTP_USER_AGENT=user_agent.encode("utf-8", "replace").decode("latin-1", "replace"))
    assert response.status_code in (201, 202, 400, 404, 405, 413, 429)


FORM = st.dictionaries(st.sampled_from(["MessageSid", "SmsSid", "From", "To", "Body", "MessageStatus", "ErrorCode",
                                        "OptOutType", "AccountSid", "NumMedia"]) | ANY_TEXT,
                       ANY_TEXT, max_size=8)


@FUZZ
@given(form=FORM, signed=st.booleans(), path=st.sampled_from(["/webhooks/twilio/sms/", "/webhooks/twilio/status/"]),
       known_sender=st.booleans())
def test_twilio_webhooks(lead, form, signed, path, known_sender):
    if known_sender:
        form["From"] = lead.phone
    headers = {}
    if signed:
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator(TOKEN).compute_signature(BASE + path, form)
    response = Client().post(path, form, **headers)
    assert response.status_code in (200, 400, 403)


@FUZZ
@given(username=ANY_TEXT, password=ANY_TEXT, next_url=ANY_TEXT,
       extra=st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=10), ANY_TEXT, max_size=3))
def test_login(lead, username, password, next_url, extra):
    response = Client().post(f"/admin/login/?next={_url_part(next_url)}",
                             {**extra, "username": username, "password": password})
    assert response.status_code in (200, 302, 403, 429)
