"""Named leases with an expiry: at most N workers run a loop at once, and a killed worker's
lease frees itself when it expires, without anyone cleaning up."""

import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crm.models import WorkerLease


def lease_acquire(*, names: list[str], ttl: timedelta, holder: str | None = None) -> tuple[str, str] | None:
    """Take the first free (or expired) lease among `names`: (name, holder), or None if all are held."""
    holder = holder or uuid.uuid4().hex
    now = timezone.now()
    for name in names:
        try:
            with transaction.atomic():
                WorkerLease.objects.get_or_create(name=name, defaults={"holder": "", "expires_at": now})
        except IntegrityError:
            pass  # created by another worker at the same moment
        taken = WorkerLease.objects.filter(Q(expires_at__lte=now) | Q(holder=holder), name=name).update(
            holder=holder, expires_at=now + ttl)
        if taken:
            return name, holder
    return None


def lease_renew(*, name: str, holder: str, ttl: timedelta) -> bool:
    """Extend a lease this holder still has; False when it expired and someone else took it."""
    return WorkerLease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now() + ttl) == 1


def lease_release(*, name: str, holder: str) -> None:
    WorkerLease.objects.filter(name=name, holder=holder).update(holder="", expires_at=timezone.now())


def lease_stale_wait(*, names: list[str], ttl: timedelta, renewed_every: timedelta) -> float | None:
    """None free among `names`: seconds until the soonest one expires, if its holder has missed
    renewals (a holder renews every `renewed_every`, so a live one has more than ttl minus that
    left; less than ttl minus two renewals means it was likely killed). None when all look alive."""
    now = timezone.now()
    expiries = list(WorkerLease.objects.filter(name__in=names).values_list("expires_at", flat=True))
    if len(expiries) < len(names):
        return 0.0  # a lease never taken yet: free now
    remaining = min(expiries) - now
    if remaining > ttl - 2 * renewed_every:
        return None
    return max(remaining.total_seconds(), 0.0)


def lease_any_free(*, names: list[str]) -> bool:
    held = WorkerLease.objects.filter(name__in=names, expires_at__gt=timezone.now()).count()
    return held < len(names)
