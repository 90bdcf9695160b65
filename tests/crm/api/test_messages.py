"""/api/v1/leads/{id}/messages: sending goes through the one send gate; a refusal is a 409 whose
code is the gate's."""

from django.utils import timezone

from crm.models import Message
from tests.crm.services.messaging.support import texting_lead


def test_a_send_the_gate_allows_is_sent_and_in_the_thread(rep_api, rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    sent = rep_api.post(f"/leads/{lead.pk}/messages", {"body": "Hi, your site is ready"})
    assert sent.status_code == 201, sent.content
    assert sent.json()["status"] in ("sent", "delivered") and sent.json()["direction"] == "out"
    assert Message.objects.get().sent_by == rep_user
    thread = rep_api.get(f"/leads/{lead.pk}/messages").json()["items"]
    assert [row["id"] for row in thread] == [sent.json()["id"]]


def test_the_gates_refusal_is_a_409_with_its_code_and_reason(rep_api, rep_user):
    lead = texting_lead(assigned_rep=rep_user, opted_out_at=timezone.now())
    refused = rep_api.post(f"/leads/{lead.pk}/messages", {"body": "Hi"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "opted_out" and "opted out" in error["message"]
    assert not Message.objects.exists()


def test_an_empty_text_is_422(rep_api, rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    response = rep_api.post(f"/leads/{lead.pk}/messages", {"body": "   "})
    assert response.status_code == 422 and response.json()["error"]["fields"] == {"body": ["the message is empty"]}
    assert not Message.objects.exists()


def test_an_idempotency_key_sends_once(rep_api, rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    key = {"Idempotency-Key": "reply-42"}
    first = rep_api.post(f"/leads/{lead.pk}/messages", {"body": "On my way"}, headers=key)
    second = rep_api.post(f"/leads/{lead.pk}/messages", {"body": "On my way"}, headers=key)
    assert first.json() == second.json() and Message.objects.count() == 1
