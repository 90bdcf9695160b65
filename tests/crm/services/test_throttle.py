"""The shared provider rate limit: callers are spaced 1/rate apart, across processes."""

import pytest
from django.test import override_settings

from crm.services import throttle


@pytest.mark.django_db
@override_settings(REDIS_URL="")
def test_database_limiter_spaces_calls_by_the_interval():
    waits = []
    recorded = [throttle.throttle_wait(provider="serpapi", rate_per_second=1, sleep=waits.append)
                for _ in range(5)]
    # The first call goes at once; each later one reserves the next slot a second after the last
    # (sleep is recorded, not done, so only the calls' own time shortens the waits).
    assert recorded[0] == 0
    for earlier, later in zip(recorded[1:], recorded[2:]):
        assert later - earlier == pytest.approx(1.0, abs=0.25)
    assert waits == [w for w in recorded if w > 0]


@pytest.mark.django_db
@override_settings(REDIS_URL="")
def test_providers_have_separate_slots_and_zero_rate_means_no_limit():
    throttle.throttle_wait(provider="llm", rate_per_second=1, sleep=lambda s: None)
    assert throttle.throttle_wait(provider="serper", rate_per_second=1, sleep=lambda s: None) == 0
    assert throttle.throttle_wait(provider="llm", rate_per_second=0, sleep=lambda s: None) == 0


def test_redis_limiter_spaces_calls_by_the_interval(monkeypatch):
    import redis

    url = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(url)
    client.delete("crm:throttle:test-redis")
    monkeypatch.setattr(throttle, "_redis_script", None)
    with override_settings(REDIS_URL=url):
        recorded = [throttle.throttle_wait(provider="test-redis", rate_per_second=2, sleep=lambda s: None)
                    for _ in range(4)]
    monkeypatch.setattr(throttle, "_redis_script", None)
    assert recorded[0] == pytest.approx(0, abs=0.05)
    assert recorded[3] == pytest.approx(1.5, abs=0.25)
    assert client.exists("crm:throttle:test-redis")
