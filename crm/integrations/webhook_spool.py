"""A spool in Redis for signed webhooks that arrive while the database is down.

Twilio does not retry an inbound text or a status callback answered with an error, so a STOP
sent during a database outage would be lost. The webhook views check the signature (no
database needed), and when storing the event fails they push it here and answer 200; the
worker stores and processes the spool once the database is back (services/webhooks.py,
`webhook_spool_drain`). Items are JSON; the list is read from its head and trimmed only after
the items read were stored, so a crash re-reads rather than loses (storing is idempotent per
provider id)."""

import json
from functools import lru_cache

from django.conf import settings

SPOOL_KEY = "crm:webhook-spool"
TIMEOUT_SECONDS = 2.0


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)


def webhook_spool_push(*, item: dict) -> bool:
    """True when the item is safely in the spool; False without Redis or when Redis fails too."""
    if not settings.REDIS_URL:
        return False
    try:
        _client(settings.REDIS_URL).rpush(SPOOL_KEY, json.dumps(item))
    except Exception:  # any Redis or connection error: the caller answers 503 instead
        return False
    return True


def webhook_spool_read(*, count: int) -> list[dict]:
    """Up to `count` items from the head of the spool (left in it until trimmed)."""
    if not settings.REDIS_URL:
        return []
    return [json.loads(raw) for raw in _client(settings.REDIS_URL).lrange(SPOOL_KEY, 0, count - 1)]


def webhook_spool_trim(*, count: int) -> None:
    """Drop the first `count` items (those just stored)."""
    _client(settings.REDIS_URL).ltrim(SPOOL_KEY, count, -1)

