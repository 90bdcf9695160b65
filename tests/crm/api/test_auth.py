"""Tokens: stored hashed, shown once, revoked for good; every failure in the one error shape;
a per-token budget answered with 429 and Retry-After."""

import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.utils import timezone

from crm.models import ApiToken
from crm.services.api_tokens import api_token_create, api_token_revoke
from tests.crm.api.conftest import ApiClient


def _assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]


def test_no_token_or_a_wrong_one_is_401_in_the_error_shape(rep_api):
    _assert_error(Client().get("/api/v1/leads"), 401, "unauthenticated")
    _assert_error(ApiClient("crm_" + "x" * 43).get("/leads"), 401, "unauthenticated")
    _assert_error(ApiClient(rep_api.raw[:-1]).get("/leads"), 401, "unauthenticated")
    assert rep_api.get("/leads").status_code == 200


def test_the_token_is_stored_only_as_its_sha256(rep_user):
    token, raw = api_token_create(user=rep_user, name="Website form", actor=rep_user)
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert stored["secret_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {str(value) for value in stored.values()}
    assert raw.startswith(stored["prefix"]) and len(stored["prefix"]) < 12 and len(raw) > 40


def test_a_revoked_token_stops_working_at_once(rep_user):
    token, raw = api_token_create(user=rep_user, name="Zap", actor=rep_user)
    api = ApiClient(raw)
    assert api.get("/leads").status_code == 200
    assert api_token_revoke(token=token) is True
    _assert_error(api.get("/leads"), 401, "unauthenticated")
    assert api_token_revoke(token=token) is False


def test_a_deactivated_users_token_stops_working(rep_user, rep_api):
    rep_user.is_active = False
    rep_user.save()
    _assert_error(rep_api.get("/leads"), 401, "unauthenticated")


def test_use_is_recorded(rep_user, rep_api):
    rep_api.get("/leads")
    assert ApiToken.objects.get(user=rep_user).last_used_at == timezone.now()


def test_only_an_admin_makes_a_token_for_someone_else(rep_user, other_rep, admin_user):
    with pytest.raises(PermissionDenied):
        api_token_create(user=other_rep, name="x", actor=rep_user)
    token, _ = api_token_create(user=other_rep, name="x", actor=admin_user)
    assert token.user == other_rep


@override_settings(API_RATE_PER_MINUTE=3)
def test_over_the_budget_is_429_with_retry_after_until_the_minute_turns(rep_user, other_rep):
    start = timezone.now().replace(second=10, microsecond=0)
    rep_api = ApiClient(api_token_create(user=rep_user, name="a", actor=rep_user)[1])
    other_api = ApiClient(api_token_create(user=other_rep, name="b", actor=other_rep)[1])
    with time_machine.travel(start):
        assert [rep_api.get("/leads").status_code for _ in range(3)] == [200, 200, 200]
        refused = rep_api.get("/leads")
        _assert_error(refused, 429, "rate_limited")
        assert refused["Retry-After"] == "50"
        assert other_api.get("/leads").status_code == 200  # per token, not global
    with time_machine.travel(start + timedelta(seconds=51)):
        assert rep_api.get("/leads").status_code == 200
