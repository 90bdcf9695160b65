"""Sign-in lockout writes (the lockouts themselves are recorded by django-axes)."""

from axes.models import AccessAttempt
from django.db import transaction
from django.db.models import Q, QuerySet

# Pairs per DELETE: SQLite refuses an expression tree deeper than 1,000.
_PAIRS_PER_DELETE = 200


@transaction.atomic
def login_lockout_clear(*, attempts: QuerySet[AccessAttempt]) -> int:
    """Forget every failed sign-in of each (username, address) pair among `attempts`, from any
    browser, so those pairs can sign in again at once. Returns the number of pairs cleared."""
    pairs = sorted(set(attempts.values_list("username", "ip_address")), key=str)
    for start in range(0, len(pairs), _PAIRS_PER_DELETE):
        match = Q()
        for username, ip_address in pairs[start:start + _PAIRS_PER_DELETE]:
            match |= Q(username=username, ip_address=ip_address)
        AccessAttempt.objects.filter(match).delete()
    return len(pairs)
