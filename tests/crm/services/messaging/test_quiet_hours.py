"""Quiet hours in the lead's own zone, across every US zone and a DST change (Spoke #441)."""

from datetime import datetime, time, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest

from crm.services.messaging.quiet_hours import US_ZONES, Window, is_allowed, next_opening, spread

WINDOW = Window(time(9), time(20))
UTC = dt_timezone.utc


@pytest.mark.parametrize("zone", US_ZONES)
def test_each_us_zone_uses_its_own_local_clock_not_utc(zone):
    tz = ZoneInfo(zone)
    assert is_allowed(datetime(2026, 7, 15, 9, 0, tzinfo=tz), (zone,), WINDOW)
    assert is_allowed(datetime(2026, 7, 15, 19, 59, tzinfo=tz), (zone,), WINDOW)
    assert not is_allowed(datetime(2026, 7, 15, 8, 59, tzinfo=tz), (zone,), WINDOW)
    assert not is_allowed(datetime(2026, 7, 15, 20, 0, tzinfo=tz), (zone,), WINDOW)


def test_spoke_441_hours_are_not_enforced_in_utc():
    # 15:00 UTC is 05:00 in Honolulu: inside a UTC 09-20 window, but night for the lead.
    at = datetime(2026, 7, 15, 15, 0, tzinfo=UTC)
    assert not is_allowed(at, ("Pacific/Honolulu",), WINDOW)
    assert is_allowed(at, ("America/New_York",), WINDOW)


@pytest.mark.parametrize("zone", US_ZONES)
def test_next_opening_is_nine_local_the_same_or_next_day(zone):
    tz = ZoneInfo(zone)
    late = datetime(2026, 3, 10, 22, 30, tzinfo=tz)
    assert next_opening(late, (zone,), WINDOW) == datetime(2026, 3, 11, 9, 0, tzinfo=tz)
    early = datetime(2026, 3, 10, 6, 0, tzinfo=tz)
    assert next_opening(early, (zone,), WINDOW) == datetime(2026, 3, 10, 9, 0, tzinfo=tz)


def test_dst_spring_forward_and_fall_back():
    ny = ZoneInfo("America/New_York")
    # 2026-03-08: clocks jump 02:00 -> 03:00. 09:00 local is 13:00 UTC that day, 14:00 UTC the day before.
    assert next_opening(datetime(2026, 3, 7, 23, 0, tzinfo=ny), ("America/New_York",), WINDOW).astimezone(UTC) \
        == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)
    assert next_opening(datetime(2026, 3, 6, 23, 0, tzinfo=ny), ("America/New_York",), WINDOW).astimezone(UTC) \
        == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)
    # 2026-11-01: clocks fall back; 19:30 local is still inside, 20:00 local outside.
    assert is_allowed(datetime(2026, 11, 1, 19, 30, tzinfo=ny), ("America/New_York",), WINDOW)
    assert not is_allowed(datetime(2026, 11, 2, 1, 0, tzinfo=UTC), ("America/New_York",), WINDOW)  # 20:00 EST


def test_unknown_zone_gets_the_narrowest_window_across_the_us():
    # Allowed only when it is 09:00-20:00 everywhere from Honolulu to New York.
    ok = datetime(2026, 7, 15, 20, 0, tzinfo=UTC)    # 16:00 NY, 10:00 Honolulu
    too_early_hawaii = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)  # 08:00 Honolulu
    too_late_ny = datetime(2026, 7, 16, 0, 30, tzinfo=UTC)  # 20:30 NY
    assert is_allowed(ok, US_ZONES, WINDOW)
    assert not is_allowed(too_early_hawaii, US_ZONES, WINDOW)
    assert not is_allowed(too_late_ny, US_ZONES, WINDOW)
    assert next_opening(too_early_hawaii, US_ZONES, WINDOW) == datetime(2026, 7, 15, 19, 0, tzinfo=UTC)


def test_window_never_wider_than_eight_to_nine():
    assert Window(time(6), time(23)).clamp() == Window(time(8), time(21))
    assert Window(time(9), time(20)).narrow(time(10), time(12)) == Window(time(10), time(12))


def test_spread_is_stable_inside_the_window_and_not_all_at_nine():
    zone = ("America/Chicago",)
    opening = datetime(2026, 7, 15, 9, 0, tzinfo=ZoneInfo("America/Chicago"))
    times = {spread(opening, f"enrollment-{i}", zone, WINDOW) for i in range(50)}
    assert len(times) > 40
    assert all(is_allowed(t, zone, WINDOW) for t in times)
    assert spread(opening, "enrollment-1", zone, WINDOW) == spread(opening, "enrollment-1", zone, WINDOW)
    narrow = Window(time(9), time(9, 5))
    assert all(is_allowed(spread(opening, f"k{i}", zone, narrow), zone, narrow) for i in range(20))
