"""Twilio SMS webhooks: signatures checked with the SDK against the public URL (and Twilio's
published test vector), every event stored once before it is acted on, failures kept."""

import importlib
import sys
import types

import pytest
from django.test import Client, RequestFactory
from twilio.request_validator import RequestValidator

from crm.models import WebhookEvent
from crm.webhooks.twilio import twilio_signature_is_valid

AUTH_TOKEN = "webhook-test-auth-token"
PUBLIC_BASE_URL = "https://crm.example.com"
SMS_PATH = "/webhooks/twilio/sms/"
STATUS_PATH = "/webhooks/twilio/status/"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'

# Twilio's worked example (twilio.com/docs/usage/security): auth token 12345, this URL and
# these parameters sign to this value.
DOCS_TOKEN = "12345"
DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}
DOCS_SIGNATURE = "GvWf1cFY/Q7PnoempGyD5oXAezc="
# The twilio-python SDK's own unit test (tests/unit/test_request_validator.py): same URL
# and token, the numbers ending in 09.
SDK_PARAMS = {**DOCS_PARAMS, "Caller": "+14158675309", "From": "+14158675309"}
SDK_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def inbound_params(sid="SM" + "a" * 32, body="Hello there", **extra):
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "From": "+14155550100",
        "To": "+14155550199",
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def status_params(sid="SM" + "b" * 32, status="delivered", **extra):
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": "+14155550199",
        "To": "+14155550100",
        **extra,
    }


def sign(path, params, *, base=PUBLIC_BASE_URL, token=AUTH_TOKEN):
    return RequestValidator(token).compute_signature(base + path, params)


def post(client, path, params, signature):
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    return client.post(path, params, headers=headers)


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = PUBLIC_BASE_URL
    return settings


@pytest.fixture
def csrf_client():
    """Twilio sends no CSRF token: the views must not need one."""
    return Client(enforce_csrf_checks=True)


def service_module(monkeypatch, name):
    """The service module, or a stand-in when it does not import yet."""
    try:
        return importlib.import_module(name)
    except Exception:
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)
        return module


class Recorder:
    def __init__(self, result=None, error=None, side_effect=None):
        self.calls = []
        self.result, self.error, self.side_effect = result, error, side_effect

    def __call__(self, *, webhook_event):
        self.calls.append(webhook_event)
        # The event is stored (and readable) before the service runs.
        assert WebhookEvent.objects.filter(pk=webhook_event.pk).exists()
        if self.side_effect:
            self.side_effect()
        if self.error:
            raise self.error
        return self.result


@pytest.fixture
def inbound_service(monkeypatch):
    recorder = Recorder(result="")
    module = service_module(monkeypatch, "crm.services.messaging.inbound")
    monkeypatch.setattr(module, "sms_inbound_process", recorder, raising=False)
    return recorder


@pytest.fixture
def status_service(monkeypatch):
    recorder = Recorder(result="applied")
    module = service_module(monkeypatch, "crm.services.messaging.status")
    monkeypatch.setattr(module, "message_status_apply", recorder, raising=False)
    return recorder


# --- the published test vectors -------------------------------------------------------


def test_twilio_docs_vector_validates_with_the_sdk():
    validator = RequestValidator(DOCS_TOKEN)

    assert validator.compute_signature(DOCS_URL, DOCS_PARAMS) == DOCS_SIGNATURE
    assert validator.validate(DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE)
    assert not validator.validate(DOCS_URL, {**DOCS_PARAMS, "Digits": "9999"}, DOCS_SIGNATURE)
    assert not RequestValidator("54321").validate(DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE)
    assert validator.compute_signature(DOCS_URL, SDK_PARAMS) == SDK_SIGNATURE


def test_our_check_accepts_the_docs_vector_through_a_django_request(settings):
    """The view's check (public base URL + path and query, POST as a QueryDict) reproduces
    exactly the URL and parameters Twilio signed."""
    settings.TWILIO_AUTH_TOKEN = DOCS_TOKEN
    settings.PUBLIC_BASE_URL = "https://mycompany.com/"
    factory = RequestFactory()  # served as http://testserver: only the public URL matters

    def request(params, signature):
        return factory.post(
            "/myapp.php?foo=1&bar=2", params, headers={"X-Twilio-Signature": signature}
        )

    assert twilio_signature_is_valid(request(DOCS_PARAMS, DOCS_SIGNATURE))
    assert twilio_signature_is_valid(request(SDK_PARAMS, SDK_SIGNATURE))
    assert not twilio_signature_is_valid(request({**DOCS_PARAMS, "To": "+18005551213"}, DOCS_SIGNATURE))
    assert not twilio_signature_is_valid(request(DOCS_PARAMS, SDK_SIGNATURE))


# --- inbound ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_signed_inbound_text_is_stored_once_and_handed_to_the_service(csrf_client, inbound_service):
    params = inbound_params(body="Sounds good")

    response = post(csrf_client, SMS_PATH, params, sign(SMS_PATH, params))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode() == EMPTY_TWIML
    event = WebhookEvent.objects.get()
    assert (event.source, event.event_id, event.event_type) == ("twilio_sms", params["MessageSid"], "inbound")
    assert event.payload == params
    assert event.processed_at is not None and event.attempts == 1 and event.error == ""
    assert [e.pk for e in inbound_service.calls] == [event.pk]


@pytest.mark.django_db
def test_the_service_reply_goes_back_as_escaped_twiml(client, inbound_service):
    inbound_service.result = "You're unsubscribed & won't get more texts <3"
    params = inbound_params(body="STOP")

    response = post(client, SMS_PATH, params, sign(SMS_PATH, params))

    assert response.content.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>'
        "You're unsubscribed &amp; won't get more texts &lt;3</Message></Response>"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    [
        None,  # no header at all
        "",
        "not-a-signature",
        sign(SMS_PATH, inbound_params(), token="another-accounts-token"),
        sign(SMS_PATH, inbound_params(body="Something else")),  # signed other parameters
        sign(STATUS_PATH, inbound_params()),  # signed for another URL
    ],
    ids=["missing", "empty", "garbage", "wrong-token", "tampered-body", "other-url"],
)
def test_a_forged_inbound_text_is_refused_and_nothing_is_stored(client, inbound_service, signature):
    response = post(client, SMS_PATH, inbound_params(), signature)

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()
    assert inbound_service.calls == []


@pytest.mark.django_db
def test_without_an_auth_token_every_webhook_is_refused(client, settings, inbound_service):
    settings.TWILIO_AUTH_TOKEN = ""
    params = inbound_params()

    response = post(client, SMS_PATH, params, sign(SMS_PATH, params, token=""))

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_repeated_message_sid_is_stored_and_processed_once(client, inbound_service):
    params = inbound_params()
    signature = sign(SMS_PATH, params)

    first = post(client, SMS_PATH, params, signature)
    second = post(client, SMS_PATH, params, signature)  # Twilio retries, or a replay

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content.decode() == EMPTY_TWIML
    assert WebhookEvent.objects.count() == 1
    assert len(inbound_service.calls) == 1


@pytest.mark.django_db
def test_behind_a_proxy_the_public_url_is_what_is_signed(client, inbound_service):
    """Twilio signs https://crm.example.com/...; Django sees http://testserver/..."""
    params = inbound_params()

    assert post(client, SMS_PATH, params, sign(SMS_PATH, params, base="http://testserver")).status_code == 403
    response = post(client, SMS_PATH, params, sign(SMS_PATH, params, base=PUBLIC_BASE_URL))

    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_query_string_is_part_of_the_signed_url(client, inbound_service):
    path = SMS_PATH + "?tenant=main"
    params = inbound_params()

    assert post(client, path, params, sign(SMS_PATH, params)).status_code == 403
    assert post(client, path, params, sign(path, params)).status_code == 200


@pytest.mark.django_db
def test_a_failing_service_keeps_the_event_with_its_error(client, inbound_service):
    def partial_write():  # rolled back with the failure: no half-applied event
        WebhookEvent.objects.create(source="stripe", event_id="evt_partial")

    inbound_service.side_effect = partial_write
    inbound_service.error = RuntimeError("lead lookup exploded")
    params = inbound_params()

    response = post(client, SMS_PATH, params, sign(SMS_PATH, params))

    assert response.status_code == 200
    assert response.content.decode() == EMPTY_TWIML
    event = WebhookEvent.objects.get()
    assert event.event_id == params["MessageSid"]
    assert event.attempts == 1 and event.processed_at is None
    assert "RuntimeError: lead lookup exploded" in event.error
    assert "Traceback" in event.error


@pytest.mark.django_db
def test_a_signed_text_without_a_message_sid_is_rejected(client, inbound_service):
    params = inbound_params()
    del params["MessageSid"]

    response = post(client, SMS_PATH, params, sign(SMS_PATH, params))

    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("path", [SMS_PATH, STATUS_PATH])
def test_only_post_is_accepted(client, path):
    assert client.get(path).status_code == 405


# --- status callbacks ------------------------------------------------------------------


@pytest.mark.django_db
def test_a_status_callback_is_stored_per_sid_and_status_and_applied(csrf_client, status_service):
    sent = status_params(status="sent")
    delivered = status_params(status="delivered")

    responses = [
        post(csrf_client, STATUS_PATH, p, sign(STATUS_PATH, p)) for p in (sent, delivered, delivered)
    ]

    assert [r.status_code for r in responses] == [200, 200, 200]
    events = WebhookEvent.objects.order_by("id")
    sid = sent["MessageSid"]
    assert [(e.source, e.event_id, e.event_type) for e in events] == [
        ("twilio_status", f"{sid}:sent", "sent"),
        ("twilio_status", f"{sid}:delivered", "delivered"),
    ]
    assert [e.pk for e in status_service.calls] == [e.pk for e in events]
    assert all(e.processed_at is not None and e.attempts == 1 for e in events)
    assert events[1].payload == delivered


@pytest.mark.django_db
def test_a_forged_status_callback_is_refused(client, status_service):
    params = status_params(status="delivered", ErrorCode="")

    response = post(client, STATUS_PATH, params, sign(STATUS_PATH, {**params, "MessageStatus": "failed"}))

    assert response.status_code == 403
    assert not WebhookEvent.objects.exists()
    assert status_service.calls == []


@pytest.mark.django_db
def test_a_failing_status_service_keeps_the_event(client, status_service):
    status_service.error = ValueError("bad status")
    params = status_params(status="undelivered", ErrorCode="30003")

    response = post(client, STATUS_PATH, params, sign(STATUS_PATH, params))

    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.attempts, event.processed_at) == (1, None)
    assert "ValueError: bad status" in event.error
    assert event.payload["ErrorCode"] == "30003"
