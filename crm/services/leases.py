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
