"""The voice client: the real twilio SDK against the fake Twilio Voice API, and the offline one."""

import pytest

from crm.integrations.voice import (
    LEAD_LEG,
    LEG_KEY,
    SIMULATED_DURATION_SECONDS,
    STATUS_CALLBACK_EVENTS,
    OfflineVoiceBackend,
    TwilioVoiceBackend,
    VoiceCallError,
    get_voice_backend,
)
from fakes.twilio_voice_server import FakeTwilioVoiceServer

ACCOUNT = "AC" + "1" * 32
TOKEN = "voice-test-token"


@pytest.fixture
def fake():
    # No callbacks reach anything here: the URLs point at a closed port.
    with FakeTwilioVoiceServer(account_sid=ACCOUNT, auth_token=TOKEN, step_delay=0) as server:
        yield server


def _backend(fake) -> TwilioVoiceBackend:
    return TwilioVoiceBackend(account_sid=ACCOUNT, auth_token=TOKEN, api_base_url=fake.base_url, timeout=5)


def test_create_rings_the_rep_with_the_twiml_and_status_callback(fake):
    result = _backend(fake).create(to="+15125550111", from_="+15125550100",
                                   twiml_url="http://127.0.0.1:9/twiml/1/", status_callback="http://127.0.0.1:9/s/1/")

    assert result.sid.startswith("CA") and len(result.sid) == 34
    assert result.status == "queued"
    sent = fake.requests[0]
    assert sent.path == f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json" and sent.auth_user == ACCOUNT
    assert sent.form["To"] == "+15125550111" and sent.form["From"] == "+15125550100"
    assert sent.form["Url"] == "http://127.0.0.1:9/twiml/1/" and sent.form["Method"] == "POST"
    assert sent.form["StatusCallback"] == "http://127.0.0.1:9/s/1/"
    assert fake.wait_done(result.sid)


def test_the_sdk_sends_every_status_callback_event(fake):
    _backend(fake).create(to="+15125550111", from_="+15125550100", twiml_url="http://127.0.0.1:9/t/",
                          status_callback="http://127.0.0.1:9/s/")
    # The SDK serialises the list as one form field per value; the fake keeps the last one.
    assert fake.requests[0].form["StatusCallbackEvent"] == STATUS_CALLBACK_EVENTS[-1]


def test_a_twilio_error_becomes_a_voice_call_error_without_credentials(fake):
    fake.fail_with = (400, 21215)

    with pytest.raises(VoiceCallError) as error:
        _backend(fake).create(to="+15125550111", from_="+15125550100", twiml_url="http://x/t/",
                              status_callback="http://x/s/")

    assert error.value.code == "21215" and error.value.http_status == 400
    assert TOKEN not in str(error.value)


def test_wrong_credentials_are_refused(fake):
    backend = TwilioVoiceBackend(account_sid=ACCOUNT, auth_token="wrong", api_base_url=fake.base_url, timeout=5)
    with pytest.raises(VoiceCallError) as error:
        backend.create(to="+15125550111", from_="+1", twiml_url="http://x/t/", status_callback="http://x/s/")
    assert error.value.http_status == 401


def test_offline_backend_simulates_ringing_answer_and_a_completed_call():
    backend = OfflineVoiceBackend()
    result = backend.create(to="+15125550111", from_="", twiml_url="http://x/t/", status_callback="http://x/s/")

    callbacks = backend.simulated_callbacks(sid=result.sid)

    rep_leg = [c for c in callbacks if LEG_KEY not in c]
    lead_leg = [c for c in callbacks if c.get(LEG_KEY) == LEAD_LEG]
    assert [c["CallStatus"] for c in rep_leg] == ["ringing", "in-progress", "completed"]
    assert {c["CallSid"] for c in rep_leg} == {result.sid}
    # The lead's leg, a child call: answered, then its talk time; the rep's leg also counts the ringing.
    assert [c["CallStatus"] for c in lead_leg] == ["in-progress", "completed"]
    assert {c["ParentCallSid"] for c in lead_leg} == {result.sid}
    assert len({c["CallSid"] for c in lead_leg} | {result.sid}) == 2
    assert int(lead_leg[-1]["CallDuration"]) == SIMULATED_DURATION_SECONDS
    assert int(rep_leg[-1]["CallDuration"]) > SIMULATED_DURATION_SECONDS


def test_backend_choice_follows_the_credentials(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "", ""
    assert isinstance(get_voice_backend(), OfflineVoiceBackend)
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT, TOKEN
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    backend = get_voice_backend()
    assert isinstance(backend, TwilioVoiceBackend)
    assert backend.client.api.base_url == "http://127.0.0.1:9"
