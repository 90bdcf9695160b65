"""The Idempotency-Key header on POSTs that create: a retry with the same key and request gets
the first answer again instead of making a second row."""

from collections.abc import Callable

from django.http import HttpRequest

from crm.api.errors import ApiError
from crm.services.api_idempotency import idempotency_finish, idempotency_start, request_fingerprint

MAX_KEY_LENGTH = 255


def idempotent(request: HttpRequest, parts: list[bytes], run: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """Run `run` (returning a status and a JSON-ready body) once per Idempotency-Key; without
    the header, run it. A failed request frees its key (it changed nothing)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return run()
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(422, "invalid", f"An Idempotency-Key is at most {MAX_KEY_LENGTH} characters.",
                       {"Idempotency-Key": ["is too long"]})
    fingerprint = request_fingerprint(request.method.encode(), request.path.encode(), *parts)
    start = idempotency_start(token=request.auth, key=key, fingerprint=fingerprint)
    if start.replay is not None:
        return start.replay
    if start.record is None:
        raise ApiError(409, "idempotency_conflict", start.conflict)
    try:
        status, body = run()
    except BaseException:
        idempotency_finish(record=start.record, status_code=500, response={})
        raise
    idempotency_finish(record=start.record, status_code=status, response=body)
    return status, body
