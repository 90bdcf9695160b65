"""The SMS backends: the real twilio SDK against a fake Twilio REST server on 127.0.0.1
(asserting what was posted and how errors are classified), and the offline outbox."""

import re
import socket
from datetime import UTC, datetime, timedelta

import pytest

from crm.integrations import sms
from crm.integrations.sms import (
    OutboxSmsBackend,
    SmsResult,
    SmsSendError,
    TwilioSmsBackend,
    get_sms_backend,
    sms_status_callback_url,
)
from fakes.twilio_server import FakeTwilioServer

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "secret-auth-token-0123456789"
LEAD_NUMBER = "+14155550100"
OUR_NUMBER = "+14155550199"
CALLBACK = "https://crm.example.com/webhooks/twilio/status/"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


@pytest.fixture
def fake_twilio():
    with FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
def backend(fake_twilio):
    return TwilioSmsBackend(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=fake_twilio.base_url, timeout=2
    )


@pytest.fixture(autouse=True)
def fresh_backend_cache():
    sms._twilio_backend.cache_clear()
    yield
    sms._twilio_backend.cache_clear()


# --- sending --------------------------------------------------------------------------


def test_send_posts_to_from_body_and_status_callback_with_basic_auth(fake_twilio, backend):
    result = backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hi Bob 👋", status_callback=CALLBACK)

    [request] = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.form == {
        "To": LEAD_NUMBER,
        "From": OUR_NUMBER,
        "Body": "Hi Bob 👋",
        "StatusCallback": CALLBACK,
    }
    assert (request.auth_user, request.auth_password) == (ACCOUNT_SID, AUTH_TOKEN)
    assert result == SmsResult(sid=fake_twilio.messages[0].sid, status="queued", error_code="")
    assert result.sid.startswith("SM")


def test_send_through_a_messaging_service_posts_no_from(fake_twilio, backend):
    fake_twilio.create_status = "accepted"  # what Twilio answers for a Messaging Service

    result = backend.send(
        to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", messaging_service_sid="MG" + "2" * 32
    )

    assert fake_twilio.posted[0].form == {
        "To": LEAD_NUMBER,
        "MessagingServiceSid": "MG" + "2" * 32,
        "Body": "Hello",
    }
    assert result.status == "queued"


def test_send_without_a_status_callback_posts_none(fake_twilio, backend):
    backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert "StatusCallback" not in fake_twilio.posted[0].form


def test_21610_unsubscribed_recipient_is_permanent(fake_twilio, backend):
    fake_twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")

    with pytest.raises(SmsSendError) as caught:
        backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert caught.value.code == "21610"
    assert caught.value.permanent is True
    assert "unsubscribed" in str(caught.value)
    assert AUTH_TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "code", [21211, 21214, 21408, 21612, 21614, 30003, 30004, 30005, 30006, 30007]
)
def test_recipient_errors_are_permanent(fake_twilio, backend, code):
    fake_twilio.fail_next(400, code, "The 'To' number is not valid")

    with pytest.raises(SmsSendError) as caught:
        backend.send(to="+15005550001", from_=OUR_NUMBER, body="Hello")

    assert (caught.value.code, caught.value.permanent) == (str(code), True)


@pytest.mark.parametrize(
    ("status", "code", "expected_code"),
    [
        (400, 21606, "21606"),  # our From number cannot send: not the lead's fault
        (401, 20003, "20003"),  # bad credentials
        (429, 20429, "20429"),  # too many requests
        (500, None, ""),  # an HTML error page, no Twilio code
        (503, 20500, "20500"),
    ],
)
def test_account_server_and_rate_errors_are_not_permanent(
    fake_twilio, backend, status, code, expected_code
):
    fake_twilio.fail_next(status, code, "Something went wrong")

    with pytest.raises(SmsSendError) as caught:
        backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert (caught.value.code, caught.value.permanent) == (expected_code, False)
    assert AUTH_TOKEN not in str(caught.value)


def test_wrong_credentials_fail_without_leaking_the_token(fake_twilio):
    backend = TwilioSmsBackend(
        account_sid=ACCOUNT_SID, auth_token="wrong-token", api_base_url=fake_twilio.base_url
    )

    with pytest.raises(SmsSendError) as caught:
        backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert (caught.value.code, caught.value.permanent) == ("20003", False)
    assert "wrong-token" not in str(caught.value)


def test_a_timeout_is_not_permanent_and_is_not_retried(fake_twilio):
    backend = TwilioSmsBackend(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=fake_twilio.base_url, timeout=0.3
    )
    fake_twilio.fail_next(500, None, delay=1.0)

    with pytest.raises(SmsSendError) as caught:
        backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert (caught.value.code, caught.value.permanent) == ("", False)
    assert "Timeout" in str(caught.value)
    # A POST that timed out may have been accepted: never re-sent automatically.
    assert len(fake_twilio.posted) == 1


def test_a_refused_connection_is_not_permanent():
    with socket.socket() as probe:  # a port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = TwilioSmsBackend(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base_url=f"http://127.0.0.1:{port}"
    )

    with pytest.raises(SmsSendError) as caught:
        backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert (caught.value.code, caught.value.permanent) == ("", False)


# --- reconciling a send left "sending" by a crash -----------------------------------------


def test_find_sent_matches_by_body_among_recent_messages(fake_twilio, backend):
    since = datetime.now(UTC)
    fake_twilio.add_message(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Day 2 text",
                            date_created=since - timedelta(days=2))  # an old identical text
    fake_twilio.add_message(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Something else")
    wanted = fake_twilio.add_message(
        to=LEAD_NUMBER, from_=OUR_NUMBER, body="Day 2 text", status="delivered"
    )

    found = backend.find_sent(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Day 2 text", since=since)

    assert found == SmsResult(sid=wanted.sid, status="delivered", error_code="")
    [request] = fake_twilio.requests
    assert request.method == "GET"
    assert request.path == MESSAGES_PATH
    assert (request.query["To"], request.query["From"]) == (LEAD_NUMBER, OUR_NUMBER)
    assert request.query["PageSize"] == "20"


def test_find_sent_finds_a_message_twilio_accepted_but_has_not_sent_yet(fake_twilio, backend):
    """Twilio's DateSent filter would miss it (no date_sent yet), and it would go out twice."""
    since = datetime.now(UTC)
    queued = fake_twilio.add_message(
        to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", status="queued", date_sent=None
    )

    found = backend.find_sent(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", since=since)

    assert found is not None and (found.sid, found.status) == (queued.sid, "queued")


def test_find_sent_returns_none_when_nothing_matches(fake_twilio, backend):
    since = datetime.now(UTC)
    fake_twilio.add_message(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Another text")
    fake_twilio.add_message(to="+14155550111", from_=OUR_NUMBER, body="Hello")

    assert backend.find_sent(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", since=since) is None


def test_find_sent_reports_failures_and_error_codes(fake_twilio, backend):
    since = datetime.now(UTC)
    fake_twilio.add_message(
        to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", status="undelivered", error_code=30003
    )
    found = backend.find_sent(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", since=since)
    assert found is not None and (found.status, found.error_code) == ("undelivered", "30003")

    fake_twilio.fail_next(503, 20500, "Service unavailable")
    with pytest.raises(SmsSendError) as caught:
        backend.find_sent(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", since=since)
    assert caught.value.permanent is False


def test_find_sent_through_a_messaging_service_filters_by_recipient_only(fake_twilio, backend):
    since = datetime.now(UTC)
    backend.send(to=LEAD_NUMBER, from_="", body="Hello", messaging_service_sid="MG" + "2" * 32)

    found = backend.find_sent(to=LEAD_NUMBER, from_="", body="Hello", since=since)

    assert found is not None and found.sid == fake_twilio.messages[0].sid
    assert "From" not in fake_twilio.requests[-1].query


# --- the outbox -----------------------------------------------------------------------


def test_outbox_delivers_at_once_with_unique_sids_and_no_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the outbox must not open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    outbox = OutboxSmsBackend()

    results = [
        outbox.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", status_callback=CALLBACK)
        for _ in range(50)
    ]

    assert {r.status for r in results} == {"delivered"}
    assert all(re.fullmatch(r"OB[0-9a-f]{32}", r.sid) for r in results)
    assert len({r.sid for r in results}) == 50
    assert outbox.find_sent(
        to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello", since=datetime.now(UTC)
    ) is None
    assert outbox.name == "outbox"


# --- choosing the backend ---------------------------------------------------------------


def test_the_outbox_is_the_default_without_credentials(settings):
    settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_AUTH_TOKEN = ""
    assert isinstance(get_sms_backend(), OutboxSmsBackend)

    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID  # a SID alone is not enough
    assert isinstance(get_sms_backend(), OutboxSmsBackend)


def test_twilio_is_used_with_credentials_at_the_configured_base_url(settings, fake_twilio):
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_API_BASE_URL = fake_twilio.base_url + "/"
    settings.PROVIDER_TIMEOUT_SECONDS = 3

    backend = get_sms_backend()
    result = backend.send(to=LEAD_NUMBER, from_=OUR_NUMBER, body="Hello")

    assert backend.name == "twilio"
    assert backend.client.http_client.timeout == 3
    assert get_sms_backend() is backend  # one connection pool per configuration
    assert result.sid == fake_twilio.messages[0].sid


def test_the_status_callback_url_is_public(settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com/"

    assert sms_status_callback_url() == "https://crm.example.com/webhooks/twilio/status/"


def test_twilio_statuses_map_onto_ours():
    assert [sms.sms_status_normalise(s) for s in ["accepted", "queued", "sending", "sent",
            "delivered", "read", "undelivered", "failed", "canceled", "mystery"]] == [
        "queued", "queued", "sending", "sent", "delivered", "delivered", "undelivered",
        "failed", "failed", "queued",
    ]
    assert sms.sms_error_is_permanent("21610") and not sms.sms_error_is_permanent("30008")
