"""Dashboard date ranges at a fixed clock just after a month boundary in New York (the active
zone): 01:30 UTC on 1 December is 20:30 on 30 November there, so "this month" is November, which
began at 04:00 UTC (EDT ended on 1 November 2026)."""

from datetime import datetime
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from crm.selectors.date_ranges import date_range_from_params

UTC = dt_timezone.utc
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)  # 20:30 on 30 November in New York
NOVEMBER = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 00:00 on 1 November in New York
DECEMBER = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 00:00 on 1 December in New York (EST)


@pytest.fixture(autouse=True)
def new_york():
    with timezone.override(NY), time_machine.travel(NOW, tick=False):
        yield


def november():
    return date_range_from_params({"range": "this_month"}, now=NOW)


def test_this_month_begins_at_local_midnight_on_the_first_in_new_york():
    period = november()
    assert (period.start, period.end) == (NOVEMBER, DECEMBER)
    assert period.days == 30
    previous = period.previous
    assert previous.end == NOVEMBER and previous.start == datetime(2026, 10, 2, 4, 0, tzinfo=UTC)


def test_presets_custom_ranges_and_bad_input():
    assert date_range_from_params({"range": "7d"}, now=NOW).start == datetime(2026, 11, 24, 5, 0, tzinfo=UTC)
    last = date_range_from_params({"range": "last_month"}, now=NOW)
    assert (last.start, last.end) == (datetime(2026, 10, 1, 4, 0, tzinfo=UTC), NOVEMBER)
    custom = date_range_from_params({"start": "2026-11-02", "end": "2026-11-03"}, now=NOW)
    assert (custom.preset, custom.days, custom.start.astimezone(NY).hour) == ("custom", 2, 0)
    for params, message in [({"start": "2026-11-05", "end": "2026-11-01"}, "on or before"),
                            ({"start": "nov", "end": "2026-11-01"}, "YYYY-MM-DD"),
                            ({"start": "2024-01-01", "end": "2026-11-01"}, "at most 366 days"),
                            ({"range": "forever"}, "Unknown range")]:
        period = date_range_from_params(params, now=NOW)
        assert message in period.error and period.preset == "this_month"
