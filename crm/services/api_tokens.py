"""API tokens: made once and shown once, stored as a SHA-256 hash, revoked for good; and the
per-token request budget."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from crm.models import ApiToken

TOKEN_PREFIX = "crm_"
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
RATE_WINDOW_SECONDS = 60


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, user, name: str, actor) -> tuple[ApiToken, str]:
    """A new token for `user`; returns the row and the token itself, which is never stored and
    cannot be shown again. Only the user or an admin may make one."""
    if actor is None or (actor.pk != user.pk and not actor.is_admin):
        raise PermissionDenied("Only an admin may make a token for someone else.")
    raw = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(user=user, name=name.strip()[:100] or "API token",
                                    prefix=raw[: len(TOKEN_PREFIX) + 6], secret_hash=token_hash(raw))
    return token, raw


def api_token_revoke(*, token: ApiToken) -> bool:
    """Revoke `token` from now on; False when it already was."""
    return bool(ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token whose hash matches `raw`, of an active user (one indexed read), or None.
    Records when it was last used, at most once a minute."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = (ApiToken.objects.select_related("user").filter(secret_hash=token_hash(raw), revoked_at__isnull=True,
                                                             user__is_active=True).first())
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int = 0  # seconds until the window turns over


def api_rate_take(*, token_id: int, now: float | None = None) -> RateDecision:
    """Count one request against the token's budget of API_RATE_PER_MINUTE per minute window
    (in the shared cache, so every web process counts together)."""
    now = timezone.now().timestamp() if now is None else now
    window = int(now // RATE_WINDOW_SECONDS)
    key = f"api-rate:{token_id}:{window}"
    if cache.add(key, 1, timeout=RATE_WINDOW_SECONDS * 2):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=RATE_WINDOW_SECONDS * 2)
            count = 1
    if count <= settings.API_RATE_PER_MINUTE:
        return RateDecision(True)
    return RateDecision(False, retry_after=max(1, (window + 1) * RATE_WINDOW_SECONDS - int(now)))
