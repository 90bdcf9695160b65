"""The lead page as a rep works it: Call button and tel: link, outcome buttons with their
shortcuts, status and next action, and saved replies in the reply box."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from crm.models import Call, Lead, TimelineEvent
from tests import factories as f

# 16:00 UTC: 10:00 in Chicago (the lead), 11:00 in New York (the rep's zone).
NOW = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def lead(db, rep_user):
    f.CompanySettingsFactory(sender_numbers="+15125550100")
    return f.LeadFactory(business_name="Rivera Plumbing", assigned_rep=rep_user, state="IL",
                         contact_first_name="Maria", phone="+15125550142")


def _page(client, lead):
    response = client.get(reverse("admin:crm_lead_change", args=[lead.pk]))
    assert response.status_code == 200
    return response


def _url(name, lead):
    return reverse(f"admin:crm_lead_{name}", args=[lead.pk])


def test_page_shows_call_button_tel_link_outcomes_with_shortcuts_and_the_thread(rep_client, lead):
    html = _page(rep_client, lead).content.decode()

    assert 'id="call-button"' in html and f'action="{_url("call", lead)}"' in html
    assert 'href="tel:+15125550142"' in html
    for value, key in (("connected", "c"), ("voicemail", "v"), ("no_answer", "n"), ("callback", "b"),
                       ("not_interested", "x"), ("sold", "w")):
        assert f'value="{value}" data-shortcut="{key}"' in html
    assert "crm/lead_work.js" in html
    # What the page already showed is still there: the thread and preview analytics.
    assert 'id="conversation"' in html and 'id="preview-analytics"' in html


def test_tel_link_stays_when_the_gate_refuses(rep_client, lead):
    Lead.objects.filter(pk=lead.pk).update(opted_out_at=NOW - timedelta(days=1))

    html = _page(rep_client, lead).content.decode()

    assert 'href="tel:+15125550142"' in html
    assert 'id="call-refusal"' in html and "opted out" in html
    assert "disabled" in html.split('id="call-button"')[1].split(">")[0]


def test_call_button_places_a_call_and_says_so(rep_client, rep_user, lead):
    response = rep_client.post(_url("call", lead), follow=True)

    call = Call.objects.get(lead=lead)
    assert call.rep == rep_user and call.status == Call.Status.COMPLETED  # offline, simulated
    assert "your phone rings first" in response.content.decode()
    assert f'data-call="{call.pk}"' in response.content.decode()


def test_call_outside_hours_is_refused_with_the_reason(rep_client, lead):
    with time_machine.travel(datetime(2026, 12, 3, 4, 0, tzinfo=UTC), tick=False):  # 22:00 in Chicago
        response = rep_client.post(_url("call", lead), follow=True)

    assert not Call.objects.exists()
    assert "Not called: outside calling hours" in response.content.decode()


def test_get_on_the_call_url_places_nothing(rep_client, lead):
    response = rep_client.get(_url("call", lead))
    assert response.status_code == 302
    assert not Call.objects.exists()


def test_callback_outcome_is_read_in_the_reps_time_zone(rep_client, lead):
    f.CallFactory(lead=lead, outcome="")

    rep_client.post(_url("outcome", lead), {"outcome": "callback", "callback_at": "2026-12-03T10:00"})

    lead.refresh_from_db()
    # The rep's zone is New York: 10:00 EST is 15:00 UTC.
    assert lead.next_action_at == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert lead.next_action == "Call back"
    assert Call.objects.get(lead=lead).outcome == Call.Outcome.CALLBACK


def test_bad_outcome_input_changes_nothing_and_says_why(rep_client, lead):
    response = rep_client.post(_url("outcome", lead), {"outcome": "callback", "callback_at": "not a time"},
                               follow=True)
    assert "Outcome not logged" in response.content.decode()
    response = rep_client.post(_url("outcome", lead), {"outcome": "callback"}, follow=True)
    assert "A callback needs a time in the future" in response.content.decode()
    response = rep_client.post(_url("outcome", lead), {"outcome": "hung_up"}, follow=True)
    assert "Outcome not logged" in response.content.decode()
    assert not Call.objects.exists()
    lead.refresh_from_db()
    assert lead.next_action_at is None


def test_status_and_next_action_form(rep_client, lead):
    rep_client.post(_url("next_action", lead), {"status": "NEGOTIATING", "next_action": "Send the proposal",
                                                "next_action_at": "2026-12-04T09:30"})

    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEGOTIATING
    assert lead.next_action == "Send the proposal"
    assert lead.next_action_at == datetime(2026, 12, 4, 14, 30, tzinfo=UTC)
    assert TimelineEvent.objects.filter(lead=lead, kind=TimelineEvent.Kind.STATUS_CHANGE).exists()
    html = _page(rep_client, lead).content.decode()
    assert "Send the proposal" in html


def test_a_rep_cannot_mark_a_lead_paid_by_hand(rep_client, lead):
    response = rep_client.post(_url("next_action", lead), {"status": "PAID"}, follow=True)
    assert "Not saved" in response.content.decode()
    lead.refresh_from_db()
    assert lead.status == Lead.Status.NEW


def test_saved_replies_fill_the_reply_box_rendered_for_the_lead(rep_client, rep_user, other_rep, lead):
    f.SavedReplyFactory(title="Intro", body="Hi {contact_first_name}, this is {business_name}'s site: {preview_url}")
    f.SavedReplyFactory(title="My sign-off", body="Talk soon, {rep_name}", owner=rep_user)
    f.SavedReplyFactory(title="Bravo secret", body="other rep's own", owner=other_rep)
    lead.consent_source = "form"
    lead.save()

    html = _page(rep_client, lead).content.decode()

    picker = html.split('id="saved-replies"')[1].split("</div>")[0]
    assert f"Hi Maria, this is Rivera Plumbing&#x27;s site: http" in picker
    assert f"/p/{lead.preview_token}/" in picker
    assert "My sign-off (mine)" in picker and f"Talk soon, {rep_user.first_name}" in picker
    assert "Bravo" not in html
    # Inside the reply form, next to its textarea.
    form = html.split(f'action="{reverse("admin:crm_lead_reply", args=[lead.pk])}"')[1].split("</form>")[0]
    assert 'id="saved-replies"' in form and 'name="body"' in form


def test_admin_works_any_reps_lead(admin_client, lead):
    html = _page(admin_client, lead).content.decode()
    assert 'id="call-button"' in html
