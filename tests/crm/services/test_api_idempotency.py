"""Idempotency keys expire after API_IDEMPOTENCY_HOURS: an expired key is free again (not
replayed, not a conflict), an abandoned claim is freed, and the scheduled purge deletes exactly
the expired keys. Every test runs on a fixed clock."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils.module_loading import import_string

from crm.models import ApiIdempotencyKey
from crm.services.api_idempotency import (
    ABANDONED_AFTER,
    idempotency_finish,
    idempotency_keys_purge,
    idempotency_start,
)
from crm.services.api_tokens import api_token_create
from crm.services.schedules import SCHEDULES

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def token(rep_user):
    return api_token_create(user=rep_user, name="test", actor=rep_user)[0]


def _answered(token, key: str, fingerprint: str, body: dict, when: datetime) -> None:
    with time_machine.travel(when, tick=False):
        start = idempotency_start(token=token, key=key, fingerprint=fingerprint)
        assert start.record is not None
        idempotency_finish(record=start.record, status_code=201, response=body)


@override_settings(API_IDEMPOTENCY_HOURS=24)
def test_a_key_is_replayed_until_it_expires_then_is_free_again(token):
    _answered(token, "k", "first", {"id": 1}, T0)
    with time_machine.travel(T0 + timedelta(hours=23, minutes=59), tick=False):
        assert idempotency_start(token=token, key="k", fingerprint="first").replay == (201, {"id": 1})
        assert idempotency_start(token=token, key="k", fingerprint="other").conflict
    with time_machine.travel(T0 + timedelta(hours=24, seconds=1), tick=False):
        fresh = idempotency_start(token=token, key="k", fingerprint="other")
    assert fresh.record is not None and fresh.replay is None and not fresh.conflict
    assert list(ApiIdempotencyKey.objects.values_list("request_hash", "status_code")) == [("other", 0)]


@override_settings(API_IDEMPOTENCY_HOURS=2)
def test_the_expiry_is_the_setting(token):
    _answered(token, "k", "first", {"id": 1}, T0)
    with time_machine.travel(T0 + timedelta(hours=2, seconds=1), tick=False):
        assert idempotency_start(token=token, key="k", fingerprint="first").record is not None


def test_a_running_claim_is_refused_until_it_is_abandoned(token):
    with time_machine.travel(T0, tick=False):
        assert idempotency_start(token=token, key="k", fingerprint="f").record is not None
    with time_machine.travel(T0 + ABANDONED_AFTER - timedelta(seconds=1), tick=False):
        assert "still running" in idempotency_start(token=token, key="k", fingerprint="f").conflict
    with time_machine.travel(T0 + ABANDONED_AFTER + timedelta(seconds=1), tick=False):
        assert idempotency_start(token=token, key="k", fingerprint="f").record is not None
    assert ApiIdempotencyKey.objects.count() == 1


@override_settings(API_IDEMPOTENCY_HOURS=24)
def test_the_purge_deletes_exactly_the_expired_keys(token, admin_user):
    other = api_token_create(user=admin_user, name="other", actor=admin_user)[0]
    _answered(token, "old", "a", {}, T0 - timedelta(hours=24, seconds=1))
    _answered(other, "old", "a", {}, T0 - timedelta(hours=30))
    _answered(token, "recent", "b", {}, T0 - timedelta(hours=23))
    assert idempotency_keys_purge(now=T0) == 2
    assert list(ApiIdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
    assert idempotency_keys_purge(now=T0) == 0


@override_settings(API_IDEMPOTENCY_HOURS=24)
def test_the_purge_is_scheduled_hourly_and_its_task_purges(token):
    func, minutes = SCHEDULES["api-idempotency-purge"]
    assert minutes == 60
    _answered(token, "old", "a", {}, T0 - timedelta(days=2))
    _answered(token, "recent", "b", {}, T0)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        assert import_string(func)() == 1
    assert list(ApiIdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]
