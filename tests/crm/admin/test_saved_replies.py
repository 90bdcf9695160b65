"""Saved replies in the admin: admins manage the shared ones; a rep reads those, keeps their
own, and never sees or changes another rep's."""

import pytest

from crm.models import SavedReply
from tests import factories as f
from tests.crm.admin import admin_url


@pytest.fixture
def replies(rep_user, other_rep):
    return {
        "shared": f.SavedReplyFactory(title="Shared intro"),
        "mine": f.SavedReplyFactory(title="Alpha own", owner=rep_user),
        "theirs": f.SavedReplyFactory(title="Bravo own", owner=other_rep),
    }


def test_rep_list_holds_shared_and_own_replies_only(rep_client, replies):
    response = rep_client.get(admin_url(SavedReply, "changelist"))

    assert response.status_code == 200
    shown = set(response.context["cl"].queryset.values_list("pk", flat=True))
    assert shown == {replies["shared"].pk, replies["mine"].pk}
    assert "Bravo" not in response.content.decode()


def test_rep_adds_a_reply_that_is_always_their_own(rep_client, rep_user, other_rep):
    page = rep_client.get(admin_url(SavedReply, "add"))
    assert "owner" not in page.context["adminform"].form.fields

    response = rep_client.post(admin_url(SavedReply, "add"), {
        "title": "Follow-up", "body": "Hi {contact_first_name}!", "owner": other_rep.pk, "_save": "Save"})

    assert response.status_code == 302
    assert SavedReply.objects.get(title="Follow-up").owner == rep_user


def test_rep_reads_shared_replies_but_cannot_change_or_delete_them(rep_client, replies):
    shared = replies["shared"]
    page = rep_client.get(admin_url(SavedReply, "change", shared.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]

    rep_client.post(admin_url(SavedReply, "change", shared.pk), {"title": "Hijacked", "body": "x", "_save": "Save"})
    response = rep_client.post(admin_url(SavedReply, "delete", shared.pk), {"post": "yes"})

    assert response.status_code == 403
    shared.refresh_from_db()
    assert shared.title == "Shared intro"


def test_rep_edits_their_own_reply(rep_client, replies):
    mine = replies["mine"]
    response = rep_client.post(admin_url(SavedReply, "change", mine.pk),
                               {"title": "Alpha renamed", "body": "Thanks {contact_first_name}", "_save": "Save"})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.title == "Alpha renamed"


def test_rep_cannot_reach_another_reps_reply(rep_client, replies):
    theirs = replies["theirs"]
    for view in ("change", "delete", "history"):
        response = rep_client.get(admin_url(SavedReply, view, theirs.pk))
        assert response.status_code in (302, 403, 404)
        assert "Bravo" not in response.content.decode()
    rep_client.post(admin_url(SavedReply, "delete", theirs.pk), {"post": "yes"})
    assert SavedReply.objects.filter(pk=theirs.pk).exists()


def test_admin_manages_shared_replies(admin_client, replies):
    response = admin_client.post(admin_url(SavedReply, "add"),
                                 {"title": "Pricing", "body": "Setup is one fee, then monthly.", "_save": "Save"})
    assert response.status_code == 302
    assert SavedReply.objects.get(title="Pricing").owner is None
    shown = set(admin_client.get(admin_url(SavedReply, "changelist")).context["cl"].queryset.values_list("pk", flat=True))
    assert {reply.pk for reply in replies.values()} <= shown


def test_unknown_merge_fields_are_refused(admin_client):
    response = admin_client.post(admin_url(SavedReply, "add"),
                                 {"title": "Broken", "body": "Hi {first_name}", "_save": "Save"})
    assert response.status_code == 200
    assert "Unknown variable {first_name}" in response.content.decode()
    assert not SavedReply.objects.exists()
