"""Redis for the public tracking endpoint: token lookups, minute counters and the event queue.

A thin client: no ORM. Each request is one round trip to Redis through a script registered
once (redis-py's pipeline() and Django's cache build a fresh client per call, which cost more
than Redis itself): the limits, the token and the queue together. A token's first event within
the hour takes one more, after its database look-up.
"""

from functools import lru_cache

from django.conf import settings

QUEUE_KEY = "crm:preview:events"
FLUSH_FLAG = "crm:preview:flush-scheduled"
FLUSH_LOCK = "crm:preview:flush-lock"
TOKEN_KEY = "crm:preview:token:"
UNKNOWN = "-"  # cached for a token no lead has, so a stream of made-up tokens costs no look-ups
COUNTER_SECONDS = 90

# Count the event against its address's minute and, under that, against its link's; then look
# the token up and, when everything allows and `ARGV[1]` is not empty, queue the event. Returns
# {lead or false, address count, link count, 0 not queued / 1 queued / 2 queued and a flush
# must be scheduled}. An address over its limit costs no token look-up at all.
_TRACK = """
local address = redis.call('INCR', KEYS[1])
if address == 1 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
if address > tonumber(ARGV[3]) then return {false, address, 0, 0} end
local link = redis.call('INCR', KEYS[2])
if link == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
local lead = redis.call('GET', KEYS[3])
if not lead or lead == '-' or link > tonumber(ARGV[2]) or ARGV[1] == '' then return {lead, address, link, 0} end
redis.call('RPUSH', KEYS[4], lead .. '|' .. ARGV[1])
if redis.call('SET', KEYS[5], '1', 'NX', 'EX', 5) then return {lead, address, link, 2} end
return {lead, address, link, 1}
"""
# After a token's database look-up (its first event within the hour): remember which lead it is
# ('-' for none) and, when `ARGV[2]` is not empty, queue the event, as _TRACK would have.
# Returns 0 not queued / 1 queued / 2 queued and a flush must be scheduled.
_REMEMBER = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[2] == '' then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1] .. '|' .. ARGV[2])
if redis.call('SET', KEYS[3], '1', 'NX', 'EX', 5) then return 2 end
return 1
"""
TOKEN_SECONDS = 3600


@lru_cache(maxsize=4)
def _client(url: str):
    import redis

    client = redis.Redis.from_url(url)
    return client, client.register_script(_TRACK), client.register_script(_REMEMBER)


def redis_client():
    return _client(settings.REDIS_URL)[0]


def tracking_count_and_queue(*, address_key: str, link_key: str, token: str, item: str, link_limit: int,
                             address_limit: int) -> tuple[str | None, int, int, int]:
    """(lead id, "-" for a known-unknown token, or None when not cached; address count; link
    count; queued state) — see _TRACK. `item` "" counts without queueing."""
    _, track, _ = _client(settings.REDIS_URL)
    lead, address, link, state = track(
        keys=[address_key, link_key, TOKEN_KEY + token, QUEUE_KEY, FLUSH_FLAG],
        args=[item, link_limit, address_limit, COUNTER_SECONDS])
    return (lead.decode() if lead else None), int(address), int(link), int(state)


def tracking_token_remember(*, token: str, lead_id: int | None, item: str) -> int:
    """Remember which lead a token is (or that none is) for an hour and queue `item` for it
    unless `item` is "": one round trip; the queued state as tracking_count_and_queue's."""
    _, _, remember = _client(settings.REDIS_URL)
    return int(remember(keys=[TOKEN_KEY + token, QUEUE_KEY, FLUSH_FLAG],
                        args=[UNKNOWN if lead_id is None else lead_id, item, TOKEN_SECONDS]))


def tracking_queue_read(*, count: int) -> list[bytes]:
    return redis_client().lrange(QUEUE_KEY, 0, count - 1)


def tracking_queue_trim(*, count: int) -> None:
    """Drop the first `count` entries: called once their batch is committed."""
    redis_client().ltrim(QUEUE_KEY, count, -1)


def tracking_queue_length() -> int:
    return redis_client().llen(QUEUE_KEY)


def tracking_flush_lock(*, seconds: int = 60) -> bool:
    return bool(redis_client().set(FLUSH_LOCK, 1, nx=True, ex=seconds))


def tracking_flush_unlock() -> None:
    redis_client().delete(FLUSH_LOCK, FLUSH_FLAG)


def tracking_flush_flag() -> bool:
    """True for the one caller that should schedule a flush (the flag lives 5 s)."""
    return bool(redis_client().set(FLUSH_FLAG, 1, nx=True, ex=5))


def tracking_queue_reset() -> None:
    """Empty the queue and its flags (benchmarks and tests)."""
    redis_client().delete(QUEUE_KEY, FLUSH_FLAG, FLUSH_LOCK)
