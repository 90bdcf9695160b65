"""Idempotency keys for the API's POSTs that create: the same key with the same request gets the
first answer again, and no second row, for API_IDEMPOTENCY_HOURS; after that the key is free
again and the scheduled purge deletes it."""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import ApiIdempotencyKey, ApiToken

# A claim still "running" after this long belongs to a request that died (a killed worker):
# the key is free again rather than refused until it expires. Requests end long before.
ABANDONED_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class IdempotentStart:
    """What to do with a keyed request: run it (`record` set), or answer with `replay`."""

    record: ApiIdempotencyKey | None = None
    replay: tuple[int, dict] | None = None
    conflict: str = ""  # why neither: the key was used for another request, or is running


def request_fingerprint(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def idempotency_expiry(now: datetime | None = None) -> datetime:
    """Keys made before this are expired: no longer replayed, and purged."""
    return (now or timezone.now()) - timedelta(hours=settings.API_IDEMPOTENCY_HOURS)


def _claim(token: ApiToken, key: str, fingerprint: str) -> ApiIdempotencyKey | None:
    try:
        with transaction.atomic():
            return ApiIdempotencyKey.objects.create(token=token, key=key, request_hash=fingerprint)
    except IntegrityError:
        return None


def _stale(stored: ApiIdempotencyKey, now: datetime) -> bool:
    return stored.created_at < idempotency_expiry(now) or (
        stored.status_code == 0 and stored.created_at < now - ABANDONED_AFTER)


def idempotency_start(*, token: ApiToken, key: str, fingerprint: str) -> IdempotentStart:
    """Claim `key` for this request (committed at once), or say what the first request with it
    answered. A key reused with a different request, or while its first request runs, is refused.
    An expired key (or an abandoned claim) is deleted and claimed afresh."""
    for _ in range(2):
        record = _claim(token, key, fingerprint)
        if record is not None:
            return IdempotentStart(record=record)
        stored = ApiIdempotencyKey.objects.filter(token=token, key=key).first()
        if stored is None:  # deleted between the two statements: claim again
            continue
        if _stale(stored, timezone.now()):
            # Only the row we read: another request may have replaced it meanwhile.
            ApiIdempotencyKey.objects.filter(pk=stored.pk).delete()
            continue
        if stored.request_hash != fingerprint:
            return IdempotentStart(conflict="This Idempotency-Key was used with a different request.")
        if stored.status_code == 0:
            return IdempotentStart(conflict="A request with this Idempotency-Key is still running; retry shortly.")
        return IdempotentStart(replay=(stored.status_code, stored.response))
    return IdempotentStart(conflict="A request with this Idempotency-Key is still running; retry shortly.")


def idempotency_finish(*, record: ApiIdempotencyKey, status_code: int, response: dict) -> None:
    """Store the answer to replay. A server error frees the key instead, so a retry runs again."""
    if status_code >= 500:
        record.delete()
        return
    ApiIdempotencyKey.objects.filter(pk=record.pk).update(status_code=status_code, response=response)


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete every expired key (scheduled hourly); returns how many."""
    deleted, _ = ApiIdempotencyKey.objects.filter(created_at__lt=idempotency_expiry(now)).delete()
    return deleted
