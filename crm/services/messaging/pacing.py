"""Per-number pacing, planned rather than slept through: each text gets its slot (`send_at`)
from its sending number's pace when it is queued, and the sender never sends before it.

The next free slot of each number is a ProviderThrottle row, locked while a planner takes
slots from it, and written in the same transaction as the texts that use them: a planner
that rolls back gives its slots back.
"""

from datetime import datetime, timedelta

from django.conf import settings

from crm.models import ProviderThrottle
from crm.services.throttle import PACE


def pace_interval() -> timedelta | None:
    """Time between two texts from one number (None: no pacing)."""
    rate = settings.SMS_RATE_PER_NUMBER
    if rate <= 0:
        return None
    return timedelta(seconds=1.0 / (rate * PACE))


def number_key(number: str) -> str:
    return f"sms:{number or 'service'}"


class SlotBook:
    """Slots for one planning transaction. Use inside `transaction.atomic()`; call `save()`."""

    def __init__(self, now: datetime):
        self.now = now
        self.interval = pace_interval()
        self._cursors: dict[str, datetime] = {}
        self._rows: dict[str, ProviderThrottle] = {}

    def _cursor(self, number: str) -> datetime:
        key = number_key(number)
        if key not in self._cursors:
            if self.interval is None:
                self._cursors[key] = self.now
            else:
                ProviderThrottle.objects.get_or_create(provider=key, defaults={"next_slot_at": self.now})
                row = ProviderThrottle.objects.select_for_update().get(provider=key)
                self._rows[key] = row
                self._cursors[key] = max(self.now, row.next_slot_at)
        return self._cursors[key]

    def peek(self, number: str) -> datetime:
        """The slot the next text from `number` would get."""
        return self._cursor(number)

    def take(self, number: str) -> datetime:
        slot = self._cursor(number)
        if self.interval is not None:
            self._cursors[number_key(number)] = slot + self.interval
        return slot

    def save(self) -> None:
        for key, row in self._rows.items():
            if self._cursors[key] != row.next_slot_at:
                ProviderThrottle.objects.filter(pk=row.pk).update(next_slot_at=self._cursors[key])
