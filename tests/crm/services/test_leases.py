from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from crm.models import WorkerLease
from crm.services.leases import lease_acquire, lease_any_free, lease_release, lease_renew, lease_stale_wait
from tests.crm.services.messaging.support import NOON_CHICAGO

pytestmark = pytest.mark.django_db
TTL, EVERY = timedelta(seconds=10), timedelta(seconds=2)
NAMES = ["loop-0", "loop-1"]


@pytest.fixture(autouse=True)
def noon():
    with time_machine.travel(NOON_CHICAGO, tick=False) as traveller:
        yield traveller


def test_at_most_one_holder_per_name_and_an_expired_lease_is_taken_over(noon):
    first = lease_acquire(names=NAMES, ttl=TTL)
    second = lease_acquire(names=NAMES, ttl=TTL)
    assert {first[0], second[0]} == set(NAMES)
    assert lease_acquire(names=NAMES, ttl=TTL) is None and not lease_any_free(names=NAMES)
    noon.shift(timedelta(seconds=11))  # neither renewed: both expired
    assert lease_any_free(names=NAMES)
    assert lease_acquire(names=NAMES, ttl=TTL) is not None
    assert not lease_renew(name=first[0], holder=first[1], ttl=TTL)  # taken over: the old holder stops


def test_a_released_lease_is_free_at_once():
    name, holder = lease_acquire(names=NAMES[:1], ttl=TTL)
    lease_release(name=name, holder=holder)
    assert lease_acquire(names=NAMES[:1], ttl=TTL) is not None


def test_stale_wait_is_none_while_every_holder_renews_and_the_time_left_once_one_stopped(noon):
    leases = [lease_acquire(names=NAMES, ttl=TTL) for _ in NAMES]
    assert lease_stale_wait(names=NAMES, ttl=TTL, renewed_every=EVERY) is None  # both just taken
    noon.shift(timedelta(seconds=3))
    lease_renew(name=leases[0][0], holder=leases[0][1], ttl=TTL)  # the live one renews; the other missed one
    assert lease_stale_wait(names=NAMES, ttl=TTL, renewed_every=EVERY) is None  # 7 s left: one renewal missed
    noon.shift(timedelta(seconds=2))
    lease_renew(name=leases[0][0], holder=leases[0][1], ttl=TTL)
    assert lease_stale_wait(names=NAMES, ttl=TTL, renewed_every=EVERY) == pytest.approx(5.0)


def test_stale_wait_is_zero_for_a_name_never_taken():
    lease_acquire(names=NAMES[:1], ttl=TTL)
    assert lease_stale_wait(names=NAMES, ttl=TTL, renewed_every=EVERY) == 0.0
    assert WorkerLease.objects.filter(expires_at__gt=timezone.now()).count() == 1
