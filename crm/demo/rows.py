"""Plumbing for the demo seed: collect unsaved rows, insert them in bulk, back-date them.

`created_at`-style fields are auto_now_add, so any value given on insert is replaced by
"now". The collector remembers the wanted times and writes them with plain UPDATEs after
the insert (no pre_save runs there, so the values stick).
"""

import random
import string
from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connections, models, router

from crm import models as m

# Parents before children, so every foreign key points at a saved row.
INSERT_ORDER: tuple[type[models.Model], ...] = (
    m.Lead,
    m.Enrollment,
    m.BulkSend,
    m.Message,
    m.PreviewEvent,
    m.Call,
    m.Client,
    m.Subscription,
    m.Transaction,
    m.Commission,
    m.Upsell,
    m.TimelineEvent,
    m.Notification,
    m.WebhookEvent,
)
BATCH_SIZE = 500


def _auto_now_add_field(model: type[models.Model]) -> str | None:
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now_add", False):
            return field.attname
    return None


class RowCollector:
    """Unsaved rows by model, each with the timestamps it should end up with."""

    def __init__(self) -> None:
        self.rows: dict[type[models.Model], list[models.Model]] = defaultdict(list)
        self.times: dict[type[models.Model], list[tuple[models.Model, dict]]] = defaultdict(list)

    def add(self, obj: models.Model, at: datetime | None = None, **times: datetime) -> models.Model:
        """Queue `obj`; `at` is its auto_now_add time, `times` any other auto field."""
        model = type(obj)
        self.rows[model].append(obj)
        if at is not None:
            field = _auto_now_add_field(model)
            if field is None:
                raise ValueError(f"{model.__name__} has no auto_now_add field to back-date")
            times[field] = at
        if times:
            self.times[model].append((obj, times))
        return obj

    def flush(self) -> dict[str, int]:
        """Insert everything queued, in dependency order; return rows written per model."""
        unknown = set(self.rows) - set(INSERT_ORDER)
        if unknown:
            raise ValueError(f"No insert order for {sorted(x.__name__ for x in unknown)}")
        written: dict[str, int] = {}
        for model in INSERT_ORDER:
            objs = self.rows.pop(model, [])
            if not objs:
                continue
            model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
            self._backdate(model, self.times.pop(model, []))
            written[model.__name__] = len(objs)
        return written

    @staticmethod
    def _backdate(model: type[models.Model], timed: list[tuple[models.Model, dict]]) -> None:
        """One UPDATE per row, sent with executemany: much faster than bulk_update's CASE."""
        if not timed:
            return
        names: set[str] = set()
        for obj, times in timed:
            for name, value in times.items():
                setattr(obj, name, value)
                names.add(name)
        connection = connections[router.db_for_write(model)]
        quote = connection.ops.quote_name
        fields = [model._meta.get_field(name) for name in sorted(names)]
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
        sql = (f"UPDATE {quote(model._meta.db_table)} SET {assignments} "
               f"WHERE {quote(model._meta.pk.column)} = %s")
        params = [
            [f.get_db_prep_value(getattr(obj, f.attname), connection) for f in fields] + [obj.pk]
            for obj, _ in timed
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def hex_id(rng: random.Random, prefix: str, length: int = 32) -> str:
    """Twilio-style id: prefix + lowercase hex (SM..., CA..., MG...)."""
    return prefix + f"{rng.getrandbits(4 * length):0{length}x}"


_ALNUM = string.ascii_letters + string.digits


def stripe_id(rng: random.Random, prefix: str, length: int = 24) -> str:
    """Stripe-style id: prefix_ + letters and digits (cus_..., sub_..., pi_..., evt_...)."""
    return f"{prefix}_" + "".join(rng.choices(_ALNUM, k=length))


QUIET_START = time(9, 0)
QUIET_END = time(20, 0)


def next_send_time(after: datetime, tz_name: str, rng: random.Random) -> datetime:
    """A moment at or after `after` that falls inside the lead's local 09:00-20:00."""
    tz = ZoneInfo(tz_name)
    local = after.astimezone(tz)
    jitter = timedelta(minutes=rng.randint(1, 45))
    latest = QUIET_END.hour * 60 - 15  # keep clear of the window's end
    minutes = local.hour * 60 + local.minute
    if minutes < QUIET_START.hour * 60:
        local = local.replace(hour=QUIET_START.hour, minute=0, second=0) + jitter
    elif minutes + 45 >= latest:
        next_day = (local + timedelta(days=1)).date()
        local = datetime.combine(next_day, QUIET_START, tzinfo=tz) + jitter
    else:
        local = local + jitter
    return local.astimezone(ZoneInfo("UTC"))


def last_send_time(before: datetime, tz_name: str, rng: random.Random) -> datetime:
    """A moment at or before `before` that falls inside the lead's local 09:00-19:45, so a
    story that runs into the present never texts at night."""
    tz = ZoneInfo(tz_name)
    local = before.astimezone(tz)
    minutes = local.hour * 60 + local.minute
    if QUIET_START.hour * 60 <= minutes < QUIET_END.hour * 60 - 15:
        return before
    day = local.date() if minutes >= QUIET_END.hour * 60 - 15 else (local - timedelta(days=1)).date()
    evening = datetime.combine(day, time(QUIET_END.hour - 1, 0), tzinfo=tz) + timedelta(minutes=rng.randint(0, 40))
    return evening.astimezone(ZoneInfo("UTC"))


def add_months(value: datetime, months: int) -> datetime:
    """Same day-of-month `months` later, clamped to the month's last day (Jan 31 -> Feb 28)."""
    month_index = value.month - 1 + months
    year, month = value.year + month_index // 12, month_index % 12 + 1
    for day in (value.day, 30, 29, 28):
        try:
            return value.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")
