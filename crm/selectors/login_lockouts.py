"""Reads for the sign-in lockout page: which (username, address) pairs are locked, and until when."""

from datetime import datetime

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce


def login_attempts_with_lock_state(queryset: QuerySet[AccessAttempt], *, now: datetime) -> QuerySet[AccessAttempt]:
    """Each attempt row annotated as django-axes counts a lockout: `pair_failures`, the failures of
    its (username, address) pair inside the cool-off, from any browser, and `pair_last_failure`."""
    recent = AccessAttempt.objects.filter(
        username=OuterRef("username"),
        ip_address=OuterRef("ip_address"),
        attempt_time__gte=now - get_cool_off(),
    ).order_by()
    failures = recent.values("username", "ip_address").annotate(total=Sum("failures_since_start")).values("total")
    return queryset.annotate(
        pair_failures=Coalesce(Subquery(failures, output_field=IntegerField()), 0),
        pair_last_failure=Subquery(recent.order_by("-attempt_time").values("attempt_time")[:1]),
    )


def login_attempts_locked(queryset: QuerySet[AccessAttempt], *, now: datetime) -> QuerySet[AccessAttempt]:
    """The rows whose pair is locked out right now."""
    return login_attempts_with_lock_state(queryset, now=now).filter(pair_failures__gte=settings.AXES_FAILURE_LIMIT)


def login_attempt_locked_until(attempt: AccessAttempt) -> datetime | None:
    """When the lockout of an annotated attempt's pair ends (each attempt while locked restarts the
    cool-off), or None when the pair is not locked."""
    if attempt.pair_failures < settings.AXES_FAILURE_LIMIT or attempt.pair_last_failure is None:
        return None
    return attempt.pair_last_failure + get_cool_off()
