"""Signed Twilio webhooks through the real services: STOP by text, a reply, a status callback."""

import pytest
from django.test import Client
from twilio.request_validator import RequestValidator

from crm.models import Enrollment, Lead, Message, WebhookEvent
from tests.crm.services.messaging.support import enroll, sequence_with_steps, texting_lead

pytestmark = pytest.mark.django_db
TOKEN = "end-to-end-token"
BASE = "https://crm.example.com"


@pytest.fixture(autouse=True)
def twilio(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.PUBLIC_BASE_URL = BASE


def post(path, params):
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return Client().post(path, params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_stop_by_text_opts_out_in_the_request_and_confirms_once():
    lead = texting_lead()
    sequence, steps = sequence_with_steps(0, 2)
    enroll(lead, sequence, steps, lead.created_at)
    params = {"MessageSid": "SM" + "1" * 32, "From": lead.phone, "To": "+15125550100", "Body": "Stop"}
    response = post("/webhooks/twilio/sms/", params)
    assert response.status_code == 200 and b"unsubscribed" in response.content
    lead.refresh_from_db()
    assert lead.opted_out_at is not None
    assert Enrollment.objects.get(lead=lead).status == "stopped"
    again = post("/webhooks/twilio/sms/", params)  # Twilio retries the same MessageSid
    assert b"unsubscribed" not in again.content
    assert WebhookEvent.objects.filter(source="twilio_sms").count() == 1
    assert Message.objects.filter(lead=lead, direction="in").count() == 1


def test_forged_stop_changes_nothing():
    lead = texting_lead()
    response = Client().post("/webhooks/twilio/sms/", {"MessageSid": "SMforged", "From": lead.phone, "Body": "STOP"},
                             HTTP_X_TWILIO_SIGNATURE="bad")
    assert response.status_code == 403
    lead.refresh_from_db()
    assert lead.opted_out_at is None and not WebhookEvent.objects.exists()


def test_a_reply_and_a_delivery_callback():
    lead = texting_lead()
    sent = Message.objects.create(lead=lead, direction="out", body="hi", to_number=lead.phone, status="sent",
                                  provider_sid="SM" + "2" * 32)
    post("/webhooks/twilio/sms/", {"MessageSid": "SM" + "3" * 32, "From": lead.phone, "Body": "Call me"})
    lead.refresh_from_db()
    assert lead.status == Lead.Status.REPLIED
    post("/webhooks/twilio/status/", {"MessageSid": sent.provider_sid, "MessageStatus": "delivered"})
    post("/webhooks/twilio/status/", {"MessageSid": sent.provider_sid, "MessageStatus": "sent"})
    sent.refresh_from_db()
    assert sent.status == "delivered"
    assert WebhookEvent.objects.filter(source="twilio_status").count() == 2


def test_an_event_whose_handler_failed_can_be_processed_again_from_the_admin(admin_client, monkeypatch):
    lead = texting_lead()
    from crm.services.messaging import inbound

    real = inbound.sms_inbound_process
    monkeypatch.setattr(inbound, "sms_inbound_process", lambda **kw: (_ for _ in ()).throw(RuntimeError("boom")))
    post("/webhooks/twilio/sms/", {"MessageSid": "SM" + "4" * 32, "From": lead.phone, "Body": "STOP"})
    event = WebhookEvent.objects.get()
    assert event.processed_at is None and "boom" in event.error and event.attempts == 1
    lead.refresh_from_db()
    assert lead.opted_out_at is None  # rolled back with the failure
    monkeypatch.setattr(inbound, "sms_inbound_process", real)
    response = admin_client.post("/admin/crm/webhookevent/", {"action": "process_again",
                                                               "_selected_action": [event.pk]}, follow=True)
    assert "1 event(s) processed" in response.content.decode()
    event.refresh_from_db()
    lead.refresh_from_db()
    assert event.processed_at is not None and event.error == "" and event.attempts == 2
    assert lead.opted_out_at is not None
