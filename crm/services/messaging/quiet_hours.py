"""When a text may be sent: inside the company's window in the lead's own time zone.

The window is never wider than 08:00-21:00 (TCPA). A lead with no known zone gets the
narrowest window across US zones: only times inside it everywhere from Hawaii to Maine.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

LEGAL_EARLIEST = time(8, 0)
LEGAL_LATEST = time(21, 0)
US_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
            "America/Los_Angeles", "America/Anchorage", "America/Adak", "Pacific/Honolulu")


@dataclass(frozen=True)
class Window:
    start: time
    end: time

    def clamp(self) -> "Window":
        return Window(max(self.start, LEGAL_EARLIEST), min(self.end, LEGAL_LATEST))

    def narrow(self, start: time | None, end: time | None) -> "Window":
        """The part of this window inside a step's own send window."""
        return Window(max(self.start, start or self.start), min(self.end, end or self.end))

    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _inside(at: datetime, zone: str, window: Window) -> bool:
    local = at.astimezone(ZoneInfo(zone)).time()
    return window.start <= local < window.end


def is_allowed(at: datetime, zones: tuple[str, ...], window: Window) -> bool:
    return window.start < window.end and all(_inside(at, zone, window) for zone in zones)


def next_opening(at: datetime, zones: tuple[str, ...], window: Window) -> datetime | None:
    """The first instant >= `at` when sending is allowed in every zone (None if never)."""
    if window.start >= window.end:
        return None
    if is_allowed(at, zones, window):
        return at
    candidates = []
    for zone in zones:
        tz = ZoneInfo(zone)
        local_day = at.astimezone(tz).date()
        for offset in range(0, 3):
            start = datetime.combine(local_day + timedelta(days=offset), window.start, tzinfo=tz)
            if start > at:
                candidates.append(start)
    for candidate in sorted(candidates):
        if is_allowed(candidate, zones, window):
            return candidate
    return None


def spread(opening: datetime, key: str, zones: tuple[str, ...], window: Window, minutes: int = 60) -> datetime:
    """`opening` plus a stable per-key offset (up to `minutes`), so a backlog does not all go at
    09:00:00; the offset shrinks until the time is still inside the window."""
    offset = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % (minutes * 60)
    while offset > 0:
        candidate = opening + timedelta(seconds=offset)
        if is_allowed(candidate, zones, window):
            return candidate
        offset //= 2
    return opening


def describe_local(at: datetime, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%H:%M} in {zone}" if zone else "unknown local time"
