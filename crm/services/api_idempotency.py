"""Idempotency keys for the API's POSTs that create: the same key with the same request gets the
first answer again, and no second row."""

import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from crm.models import ApiIdempotencyKey, ApiToken


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


def idempotency_start(*, token: ApiToken, key: str, fingerprint: str) -> IdempotentStart:
    """Claim `key` for this request (committed at once), or say what the first request with it
    answered. A key reused with a different request, or while its first request runs, is refused."""
    try:
        with transaction.atomic():
            record = ApiIdempotencyKey.objects.create(token=token, key=key, request_hash=fingerprint)
        return IdempotentStart(record=record)
    except IntegrityError:
        pass
    stored = ApiIdempotencyKey.objects.get(token=token, key=key)
    if stored.request_hash != fingerprint:
        return IdempotentStart(conflict="This Idempotency-Key was used with a different request.")
    if stored.status_code == 0:
        return IdempotentStart(conflict="A request with this Idempotency-Key is still running; retry shortly.")
    return IdempotentStart(replay=(stored.status_code, stored.response))


def idempotency_finish(*, record: ApiIdempotencyKey, status_code: int, response: dict) -> None:
    """Store the answer to replay. A server error frees the key instead, so a retry runs again."""
    if status_code >= 500:
        record.delete()
        return
    ApiIdempotencyKey.objects.filter(pk=record.pk).update(status_code=status_code, response=response)
