"""An opt-out is written in one place (crm/services/messaging/optout.py), whoever reports it:
a STOP text, a carrier's 21610 on a send, or a 21610 in a status callback."""

import pytest

from crm.integrations.sms import SmsSendError
from crm.models import Message, WebhookEvent
from crm.services.messaging import optout
from crm.services.messaging.inbound import sms_inbound_process
from crm.services.messaging.sending import message_send
from crm.services.messaging.status import message_status_apply
from tests.crm.services.messaging.support import RecordingBackend, at, queued, texting_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def opt_outs(monkeypatch):
    calls = []
    real = optout.lead_opt_out

    def spy(**kwargs):
        calls.append(kwargs["source"])
        return real(**kwargs)

    for module in ("crm.services.messaging.inbound", "crm.services.messaging.outcomes"):
        monkeypatch.setattr(f"{module}.lead_opt_out", spy)
    return calls


def test_stop_text_send_error_and_callback_all_write_through_lead_opt_out(opt_outs):
    by_text, by_send, by_callback = texting_lead(), texting_lead(), texting_lead()
    event = WebhookEvent.objects.create(source="twilio_sms", event_id="SM" + "1" * 32,
                                        payload={"MessageSid": "SM" + "1" * 32, "From": by_text.phone, "Body": "STOP"})
    sms_inbound_process(webhook_event=event)
    with at():
        message_send(message_id=queued(by_send).pk, backend=RecordingBackend(
            fail_with=SmsSendError("unsubscribed", code="21610", permanent=True, http_status=400)))
    message = queued(by_callback)
    Message.objects.filter(pk=message.pk).update(status="sent", provider_sid="SM" + "2" * 32)
    status = WebhookEvent.objects.create(source="twilio_status", event_id="x", payload={
        "MessageSid": "SM" + "2" * 32, "MessageStatus": "failed", "ErrorCode": "21610"})
    message_status_apply(webhook_event=status)
    assert opt_outs == ["text: STOP", "carrier error 21610", "carrier error 21610"]
    for lead in (by_text, by_send, by_callback):
        lead.refresh_from_db()
        assert lead.opted_out_at is not None
        assert lead.timeline.filter(kind="opt_out").count() == 1
