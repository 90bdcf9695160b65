"""Dashboard date ranges: a preset or custom days in the active time zone, compared with the
period of equal length before it (crm/selectors/reporting.py counts them)."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

PRESETS = {
    "today": "Today",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "this_month": "This month",
    "last_month": "Last month",
}
DEFAULT_PRESET = "this_month"
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class DateRange:
    start: datetime  # aware, local midnight, inclusive
    end: datetime  # aware, local midnight, exclusive
    preset: str  # a PRESETS key, or "custom"
    error: str = ""  # why the asked-for range was replaced by the default

    @property
    def days(self) -> int:
        return (self.end.date() - self.start.date()).days

    @property
    def previous(self) -> "DateRange":
        return DateRange(start=local_midnight(self.start.date() - timedelta(days=self.days)),
                         end=self.start, preset="previous")

    @property
    def label(self) -> str:
        last = self.end.date() - timedelta(days=1)
        return f"{self.start:%b %-d, %Y} - {last:%b %-d, %Y}"

    def day_starts(self) -> list[date]:
        return [self.start.date() + timedelta(days=i) for i in range(self.days)]


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day), timezone.get_current_timezone())


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def date_range_from_params(params, *, now: datetime) -> DateRange:
    """The range a dashboard URL asks for: ?range=<preset> or ?start=YYYY-MM-DD&end=YYYY-MM-DD
    (both days included). Anything unreadable gives the default with the reason in `error`."""
    today = timezone.localtime(now).date()
    tomorrow = today + timedelta(days=1)
    start_text, end_text = params.get("start", "").strip(), params.get("end", "").strip()
    if start_text or end_text:
        try:
            first, last = date.fromisoformat(start_text), date.fromisoformat(end_text)
        except ValueError:
            return _preset(DEFAULT_PRESET, today, "Dates must be given as YYYY-MM-DD, both start and end.")
        if first > last:
            return _preset(DEFAULT_PRESET, today, "The start date must be on or before the end date.")
        if (last - first).days >= MAX_RANGE_DAYS:
            return _preset(DEFAULT_PRESET, today, f"A range can be at most {MAX_RANGE_DAYS} days.")
        return DateRange(start=local_midnight(first), end=local_midnight(last + timedelta(days=1)), preset="custom")
    preset = params.get("range", DEFAULT_PRESET)
    if preset not in PRESETS:
        return _preset(DEFAULT_PRESET, today, f"Unknown range {preset!r}.")
    if preset == "today":
        return DateRange(start=local_midnight(today), end=local_midnight(tomorrow), preset=preset)
    return _preset(preset, today, "")


def _preset(preset: str, today: date, error: str) -> DateRange:
    tomorrow = local_midnight(today + timedelta(days=1))
    if preset in ("7d", "30d", "90d"):
        days = int(preset[:-1])
        return DateRange(start=local_midnight(today - timedelta(days=days - 1)), end=tomorrow, preset=preset, error=error)
    if preset == "last_month":
        return DateRange(start=local_midnight(_month_start(today, 1)), end=local_midnight(_month_start(today)),
                         preset=preset, error=error)
    return DateRange(start=local_midnight(_month_start(today)), end=tomorrow, preset=preset, error=error)
