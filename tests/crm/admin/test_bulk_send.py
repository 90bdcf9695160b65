"""Bulk "Send a text" from the lead list: the page answers at once with counts, the worker sends
at each number's pace, and running it again within 24 hours texts nobody twice."""

import time

import pytest
from django.test import override_settings

from crm.models import BulkSend, Message
from crm.services.messaging.sender import messages_send_due
from tests.crm.services.messaging.support import RecordingBackend, at, company_numbers, texting_lead

pytestmark = pytest.mark.django_db
BODY = "Hi {contact_first_name}, your new site for {business_name} is ready: {preview_url}"


def bulk_send(client, leads, confirm=True):
    data = {"action": "send_text", "_selected_action": [lead.pk for lead in leads], "apply": "1", "body": BODY}
    if confirm:
        data["confirm"] = "1"
    return client.post("/admin/crm/lead/", data, follow=True)


@override_settings(SMS_RATE_PER_NUMBER=1)
def test_200_leads_answer_at_once_with_200_queued_and_a_second_run_texts_nobody_twice(admin_client):
    company_numbers("+15125550100")  # one number: sent one by one, 200 seconds of pacing
    with at(tick=True):
        leads = [texting_lead() for _ in range(200)]
        started = time.monotonic()
        response = bulk_send(admin_client, leads)
        elapsed = time.monotonic() - started
        assert response.status_code == 200 and "200 queued" in response.content.decode()
        # The request queues; it never waits on the number's pace (that would be 200 s). The bound
        # is loose so a loaded machine cannot fail it; the queued count below says the same.
        assert elapsed < 20, elapsed
        texts = Message.objects.filter(direction="out")
        assert texts.count() == 200
        assert texts.filter(status="queued").count() >= 195  # the worker sends them at their slots
        slots = sorted(texts.values_list("send_at", flat=True))
        assert (slots[-1] - slots[0]).total_seconds() == pytest.approx(199 / 0.95, abs=0.01)
        assert BulkSend.objects.get().queued == 200

        confirm = bulk_send(admin_client, leads, confirm=False).content.decode()
        assert "0 will be queued" in confirm and "200 already got this text in the last 24 hours" in confirm
        again = bulk_send(admin_client, leads).content.decode()
        assert "0 queued; 200 skipped (already got this text in the last 24 hours)" in again
    assert Message.objects.filter(direction="out").count() == 200


def test_the_bulk_send_page_shows_progress_and_its_texts(admin_client):
    company_numbers("+15125550100")
    with at():
        leads = [texting_lead() for _ in range(3)]
        bulk_send(admin_client, leads)
        bulk = BulkSend.objects.get()
        messages_send_due(budget_seconds=0, backend=RecordingBackend())
        page = admin_client.get(f"/admin/crm/bulksend/{bulk.pk}/change/").content.decode()
    assert "3 sent" in page and f"?bulk_send__id__exact={bulk.pk}" in page
    listed = admin_client.get(f"/admin/crm/message/?bulk_send__id__exact={bulk.pk}")
    assert listed.status_code == 200 and len(listed.context["cl"].result_list) == 3


def test_a_rep_sees_only_their_own_bulk_sends(rep_client, rep_user, other_rep):
    from tests.factories import BulkSendFactory

    mine, theirs = BulkSendFactory(created_by=rep_user), BulkSendFactory(created_by=other_rep)
    assert rep_client.get(f"/admin/crm/bulksend/{mine.pk}/change/").status_code == 200
    assert rep_client.get(f"/admin/crm/bulksend/{theirs.pk}/change/").status_code in (302, 403, 404)
