"""A rate limit per provider shared by every worker process (Redis when configured, else the
database): each caller reserves the next free slot (GCRA), then sleeps until it comes.

A per-process counter would let two workers send twice the provider's limit.
"""

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.models import ProviderThrottle

# Atomic in Redis: read the theoretical arrival time, reserve the next slot, return the wait.
_REDIS_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, tat)
local interval = tonumber(ARGV[1])
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil((slot + interval - now) * 1000) + 60000)
return tostring(slot - now)
"""
_redis_script = None
# Slots are spaced for 95% of the limit: a thread that wakes a little late for its slot
# (a busy machine) must not push any one second over what the provider allows.
PACE = 0.95


def _reserve_redis(provider: str, interval: float) -> float:
    global _redis_script
    if _redis_script is None:
        import redis

        _redis_script = redis.Redis.from_url(settings.REDIS_URL).register_script(_REDIS_RESERVE)
    return float(_redis_script(keys=[f"crm:throttle:{provider}"], args=[interval]))


def _reserve_db(provider: str, interval: float) -> float:
    ProviderThrottle.objects.get_or_create(provider=provider, defaults={"next_slot_at": timezone.now()})
    with transaction.atomic():
        row = ProviderThrottle.objects.select_for_update().get(provider=provider)
        now = timezone.now()
        slot = max(now, row.next_slot_at)
        row.next_slot_at = slot + timedelta(seconds=interval)
        row.save(update_fields=["next_slot_at"])
    return (slot - now).total_seconds()


def throttle_wait(*, provider: str, rate_per_second: float, sleep: Callable[[float], None] | None = None) -> float:
    """Block until `provider` may be called again; returns the seconds waited."""
    if rate_per_second <= 0:
        return 0.0
    interval = 1.0 / (rate_per_second * PACE)
    wait = _reserve_redis(provider, interval) if settings.REDIS_URL else _reserve_db(provider, interval)
    if wait > 0:
        (sleep or time.sleep)(wait)
    return max(wait, 0.0)


def provider_limiter(provider: str) -> Callable[[], None]:
    """The limiter callable the integration clients call before every attempt."""
    rate = settings.PROVIDER_RATE_PER_SECOND.get(provider, 0)
    return lambda: throttle_wait(provider=provider, rate_per_second=rate)
