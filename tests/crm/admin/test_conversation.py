"""The lead page's text thread: replies go through the gate (Rock #6400), enrolment by bulk action."""

import pytest
from django.utils import timezone

from crm.models import Enrollment, Message
from tests.crm.services.messaging.support import at, sequence_with_steps, texting_lead

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def midday():
    with at():  # noon in Chicago, where texting_lead lives
        yield


def test_thread_shows_messages_in_order_and_a_reply_is_sent(rep_client, rep_user):
    lead = texting_lead(assigned_rep=rep_user)
    Message.objects.create(lead=lead, direction="out", body="First from us", status="delivered")
    Message.objects.create(lead=lead, direction="in", body="Who is this?", status="received")
    page = rep_client.get(f"/admin/crm/lead/{lead.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("First from us") < html.index("Who is this?")
    assert 'id="reply-refusal"' not in html
    response = rep_client.post(f"/admin/crm/lead/{lead.pk}/reply/", {"body": "It's Sam from the studio"})
    assert response.status_code == 302
    sent = Message.objects.get(body="It's Sam from the studio")
    assert sent.sent_by == rep_user and sent.status == "delivered"  # the outbox delivers at once


def test_rock_6400_no_text_to_an_opted_out_contact_from_an_existing_thread(rep_client, rep_user):
    lead = texting_lead(assigned_rep=rep_user, opted_out_at=timezone.now())
    Message.objects.create(lead=lead, direction="in", body="STOP", status="received")
    page = rep_client.get(f"/admin/crm/lead/{lead.pk}/change/").content.decode()
    assert 'id="reply-refusal"' in page and "opted out" in page
    response = rep_client.post(f"/admin/crm/lead/{lead.pk}/reply/", {"body": "Are you sure?"}, follow=True)
    assert "Not sent: opted out" in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()


def test_a_rep_cannot_reply_on_another_reps_lead(rep_client, other_rep):
    lead = texting_lead(assigned_rep=other_rep)
    assert rep_client.post(f"/admin/crm/lead/{lead.pk}/reply/", {"body": "hi"}).status_code == 404
    assert not Message.objects.exists()


def test_enrol_by_bulk_action_reports_who_was_not_enrolled(admin_client):
    sequence, steps = sequence_with_steps(0, 2)
    ok, opted_out = texting_lead(), texting_lead(opted_out_at=timezone.now())
    data = {"action": "enroll_in_sequence", "_selected_action": [ok.pk, opted_out.pk]}
    form = admin_client.post("/admin/crm/lead/", data)
    assert form.status_code == 200 and b"Enrol leads in a sequence" in form.content
    confirm = admin_client.post("/admin/crm/lead/", {**data, "apply": "1", "sequence": sequence.pk})
    page = confirm.content.decode()
    assert "1 will be enrolled" in page and "Not enrolled: 1 the lead opted out" in page
    assert not Enrollment.objects.exists()  # nothing happens before the confirmation
    done = admin_client.post("/admin/crm/lead/", {**data, "apply": "1", "confirm": "1", "sequence": sequence.pk},
                             follow=True)
    assert "Enrolled 1 lead(s)" in done.content.decode() and "1 the lead opted out" in done.content.decode()
    assert Enrollment.objects.get().lead == ok


def test_bulk_text_goes_through_the_gate_for_each_lead(admin_client):
    ok = texting_lead()
    no_consent = texting_lead(consent_source="", consent_at=None)
    data = {"action": "send_text", "_selected_action": [ok.pk, no_consent.pk]}
    assert b"Send a text to the selected leads" in admin_client.post("/admin/crm/lead/", data).content
    confirm = admin_client.post("/admin/crm/lead/", {**data, "apply": "1", "body": "Quick question"}).content.decode()
    assert "1 will be queued" in confirm and "1 no recorded consent" in confirm
    assert not Message.objects.exists()
    done = admin_client.post("/admin/crm/lead/", {**data, "apply": "1", "confirm": "1", "body": "Quick question"},
                             follow=True)
    text = done.content.decode()
    assert "1 queued" in text and "no recorded consent" in text and "Follow progress" in text
    assert list(Message.objects.values_list("lead_id", flat=True)) == [ok.pk]


def test_templates_refuse_unknown_variables_and_show_a_rendered_preview(admin_client):
    from crm.models import MessageTemplate

    bad = admin_client.post("/admin/crm/messagetemplate/add/", {"name": "Bad", "body": "Hi {first_name}", "is_active": "on"})
    assert bad.status_code == 200 and "Unknown variable {first_name}" in bad.content.decode()
    assert not MessageTemplate.objects.filter(name="Bad").exists()
    good = admin_client.post("/admin/crm/messagetemplate/add/",
                             {"name": "Good", "body": "Hi {contact_first_name}, {preview_url}", "is_active": "on"})
    assert good.status_code == 302
    template = MessageTemplate.objects.get(name="Good")
    page = admin_client.get(f"/admin/crm/messagetemplate/{template.pk}/change/").content.decode()
    assert "segment(s)" in page and "/p/" in page
