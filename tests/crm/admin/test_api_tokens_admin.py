"""The API tokens admin: a token is shown once when made, never again; revoke by action."""

import hashlib

from django.urls import reverse

from crm.models import ApiToken


def test_a_token_is_shown_once_on_creation_and_works(admin_client, rep_user):
    response = admin_client.post(reverse("admin:crm_apitoken_add"), {"user": rep_user.pk, "name": "Website form"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    raw = response.context["raw_token"]
    assert raw in response.content.decode()
    token = ApiToken.objects.get()
    assert (token.user, token.name, token.secret_hash) == (rep_user, "Website form", hashlib.sha256(raw.encode()).hexdigest())
    for url in (reverse("admin:crm_apitoken_changelist"), reverse("admin:crm_apitoken_change", args=[token.pk])):
        page = admin_client.get(url).content.decode()
        assert token.prefix in page and raw not in page
    assert admin_client.get("/api/v1/leads", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200


def test_revoking_by_the_detail_action_asks_then_revokes(admin_client, rep_user):
    admin_client.post(reverse("admin:crm_apitoken_add"), {"user": rep_user.pk, "name": "Zap"})
    token = ApiToken.objects.get()
    url = reverse("admin:crm_apitoken_revoke_token", args=[token.pk])
    assert "Yes, revoke it" in admin_client.get(url).content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    admin_client.post(url)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoking_selected_tokens(admin_client, rep_user, other_rep):
    for user in (rep_user, other_rep):
        admin_client.post(reverse("admin:crm_apitoken_add"), {"user": user.pk, "name": "t"})
    admin_client.post(reverse("admin:crm_apitoken_changelist"),
                      {"action": "revoke_tokens", "_selected_action": list(ApiToken.objects.values_list("pk", flat=True))})
    assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()


def test_a_rep_cannot_open_or_make_tokens(rep_client):
    assert rep_client.get(reverse("admin:crm_apitoken_changelist")).status_code == 403
    assert rep_client.post(reverse("admin:crm_apitoken_add"), {"name": "x"}).status_code == 403
    assert not ApiToken.objects.exists()
