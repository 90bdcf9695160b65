"""Tokens: stored hashed, shown once, revoked for good; every failure in the one error shape;
a per-token budget answered with 429 and Retry-After."""

import hashlib
from datetime import timedelta

import pytest
import redis
import time_machine
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.test import Client, override_settings
from django.utils import timezone

from crm.models import ApiToken, User
from crm.services.api_tokens import api_token_authenticate, api_token_create, api_token_revoke
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


@pytest.mark.parametrize(("superuser", "groups"), [
    (False, []), (False, ["REP"]), (False, ["ADMIN"]), (False, ["ADMIN", "REP"]), (False, ["Other"]),
    (False, ["Not ADMIN", "REP team"]),
    (True, []), (True, ["REP"]),
])
def test_one_query_brings_the_role_and_permissions_the_admin_would_use(superuser, groups,
                                                                      django_assert_num_queries):
    """The token's read carries the user's role and permissions (User.role and has_perm make no
    query of their own) and they are what a fresh read of the user gives."""
    user = User.objects.create(username="someone", is_superuser=superuser, is_staff=True)
    for name in groups:
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    user.user_permissions.add(Permission.objects.get(codename="add_importbatch"))
    _, raw = api_token_create(user=user, name="t", actor=user)
    api_token_authenticate(raw=raw)  # records the first use
    perms = ["crm.view_lead", "crm.add_lead", "crm.change_lead", "crm.add_importbatch", "crm.view_subscription",
             "auth.change_group"]
    with django_assert_num_queries(1):
        token = api_token_authenticate(raw=raw)
        read = (token.user.role, token.user.is_rep, token.user.is_admin, [token.user.has_perm(p) for p in perms])
    fresh = User.objects.get(pk=user.pk)
    assert read == (fresh.role, fresh.is_rep, fresh.is_admin, [fresh.has_perm(p) for p in perms])
    assert read[3][3] is True  # the user's own permission counts, as in the admin


def test_a_permission_taken_from_the_role_in_the_admin_applies_at_the_next_request(rep_user, rep_api):
    assert rep_api.get("/leads").status_code == 200
    Group.objects.get(name="REP").permissions.remove(Permission.objects.get(codename="view_lead"))
    _assert_error(rep_api.get("/leads"), 403, "forbidden")


@pytest.fixture
def redis_rate(settings):
    """The budget counted in Redis (as in production): one round trip per request."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"  # the database tests/crm/services/test_throttle.py uses
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    for key in client.scan_iter("crm:api-rate:*"):
        client.delete(key)


@override_settings(API_RATE_PER_MINUTE=2)
def test_with_redis_the_budget_is_one_counter_per_token_and_minute(redis_rate, rep_user):
    token, raw = api_token_create(user=rep_user, name="r", actor=rep_user)
    start = timezone.now().replace(second=30, microsecond=0)
    for key in redis_rate.scan_iter(f"crm:api-rate:{token.pk}:*"):
        redis_rate.delete(key)
    api = ApiClient(raw)
    with time_machine.travel(start):
        assert [api.get("/leads").status_code for _ in range(2)] == [200, 200]
        refused = api.get("/leads")
        _assert_error(refused, 429, "rate_limited")
        assert refused["Retry-After"] == "30"
    key = f"crm:api-rate:{token.pk}:{int(start.timestamp()) // 60}"
    assert int(redis_rate.get(key)) == 3 and 0 < redis_rate.ttl(key) <= 120
    with time_machine.travel(start + timedelta(seconds=31)):
        assert api.get("/leads").status_code == 200
