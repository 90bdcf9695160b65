"""API tokens: made once and shown once, stored as a SHA-256 hash, revoked for good; and the
per-token request budget.

A request's token, its user, the user's role and permissions are read in one query, and the
budget is one round trip to Redis: the list of leads then costs one more query (bench/api.py)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import BooleanField, TextField
from django.db.models.expressions import RawSQL
from django.utils import timezone

from crm.models import ApiToken, User
from crm.models.team import ROLE_ADMIN, ROLE_REP

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


SEPARATOR = "\n"  # between permission names (a codename never holds one)


@lru_cache(maxsize=4)
def _owner_sql(vendor: str) -> dict[str, tuple[str, tuple]]:
    """Per token row: whether its user is in the ADMIN and the REP group, and the permissions
    ("app.codename") the user holds through groups and directly, each list joined by SEPARATOR.
    Plain SQL (the ORM spent ~2.5 ms of CPU a request compiling the same as subqueries);
    PostgreSQL and SQLite name the aggregate apart."""
    q = connection.ops.quote_name
    joined = "STRING_AGG({}, %s)" if vendor == "postgresql" else "GROUP_CONCAT({}, %s)"
    owner = f"{q(ApiToken._meta.db_table)}.{q('user_id')}"
    user_groups = q(User.groups.through._meta.db_table)
    group_perms, user_perms = q(Group.permissions.through._meta.db_table), q(User.user_permissions.through._meta.db_table)
    perm = f"FROM {q(Permission._meta.db_table)} p JOIN {q(ContentType._meta.db_table)} ct ON ct.id = p.content_type_id"
    name = joined.format("ct.app_label || '.' || p.codename")
    member = (f"EXISTS (SELECT 1 FROM {q(Group._meta.db_table)} g JOIN {user_groups} ug ON ug.group_id = g.id "
              f"WHERE ug.user_id = {owner} AND g.name = %s)")
    return {
        "in_admin_group": (member, (ROLE_ADMIN,)),
        "in_rep_group": (member, (ROLE_REP,)),
        "group_permissions": (f"SELECT {name} {perm} JOIN {group_perms} gp ON gp.permission_id = p.id "
                              f"JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = {owner}",
                              (SEPARATOR,)),
        "user_permissions": (f"SELECT {name} {perm} JOIN {user_perms} up ON up.permission_id = p.id "
                             f"WHERE up.user_id = {owner}", (SEPARATOR,)),
    }


def _role(*, is_superuser: bool, in_admin_group: bool, in_rep_group: bool) -> str:
    """User.role's rule, from what the token query read (tests/crm/api/test_auth.py holds the
    two equal for every combination)."""
    if is_superuser or in_admin_group:
        return ROLE_ADMIN
    return ROLE_REP if in_rep_group else ""


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The active token whose hash matches `raw`, of an active user, or None: one indexed read
    that brings the user, their groups and permissions with it, so that the request's role and
    permission checks (User.role, has_perm, as in the admin) make no query of their own.
    Records when it was last used, at most once a minute."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    owner = {name: RawSQL(sql, params, output_field=BooleanField() if name.startswith("in_") else TextField())
             for name, (sql, params) in _owner_sql(connection.vendor).items()}
    found = list(ApiToken.objects.select_related("user").order_by()
                 .filter(secret_hash=token_hash(raw), revoked_at__isnull=True, user__is_active=True)
                 .annotate(**owner)[:1])
    if not found:
        return None
    token = found[0]
    user = token.user
    user.__dict__["role"] = _role(is_superuser=user.is_superuser, in_admin_group=token.in_admin_group,
                                  in_rep_group=token.in_rep_group)  # User.role's cached value
    # ModelBackend's per-user cache, which has_perm reads before querying.
    user._perm_cache = {name for names in (token.group_permissions, token.user_permissions)
                        for name in (names or "").split(SEPARATOR) if name}
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int = 0  # seconds until the window turns over


# One round trip: count the request and start the window's expiry with its first request.
_REDIS_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@lru_cache(maxsize=4)
def _redis_count_script(url: str):
    import redis

    return redis.Redis.from_url(url).register_script(_REDIS_COUNT)


def _counted(key: str) -> int:
    """One more request under `key`: in Redis when configured (every web process counts
    together), else in this process's cache."""
    if settings.REDIS_URL:
        return int(_redis_count_script(settings.REDIS_URL)(keys=[f"crm:{key}"], args=[RATE_WINDOW_SECONDS * 2]))
    if cache.add(key, 1, timeout=RATE_WINDOW_SECONDS * 2):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=RATE_WINDOW_SECONDS * 2)
        return 1


def api_rate_take(*, token_id: int, now: float | None = None) -> RateDecision:
    """Count one request against the token's budget of API_RATE_PER_MINUTE per minute window."""
    now = timezone.now().timestamp() if now is None else now
    window = int(now // RATE_WINDOW_SECONDS)
    if _counted(f"api-rate:{token_id}:{window}") <= settings.API_RATE_PER_MINUTE:
        return RateDecision(True)
    return RateDecision(False, retry_after=max(1, (window + 1) * RATE_WINDOW_SECONDS - int(now)))
