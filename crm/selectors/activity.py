"""The dashboard's counts in one round trip: per local day (or per rep), exact at every instant.

A count is a `part`: a queryset reduced to rows (key, bucket, n). `counts_in_one_statement` runs
every part as one UNION ALL statement and sums n per (key, bucket). `activity_parts` gives the
parts of the pre-counted metrics (crm.models.reporting: leads created, texts out and in, preview
views): the stored 15-minute slots up to each source's watermark, the live rows above it, and,
for one rep, the rows of leads that changed rep since the last refresh (moved from the rep they
were counted under to their rep now). The watermarks come from a first statement; the counting
statement re-reads them and runs again if a refresh committed in between (so the stored counts
and the live rows always meet at the same id). A dirty source, or a range whose local days do
not fall on slot edges, is counted live from its rows.

Buckets are local days of the active time zone numbered from the period's first day (0, 1, ...;
the days of the period before are negative), computed per row with integer arithmetic on epoch
seconds plus the zone's UTC offset (a CASE over the offset changes within the range), never a
time-zone conversion per row.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Concat, Length
from django.utils import timezone

from crm.models import ActivityCount, RollupLeadMove, RollupSource
from crm.models.reporting import COUNTED, NO_REP, SLOT_SECONDS, TEAM, EpochSeconds

DAY_SECONDS = 24 * 3600
# The counting statement is many small index scans. PostgreSQL would compile it with its JIT (its
# estimated cost passes jit_above_cost at a million leads), which takes longer than running it
# (650 ms against 90 ms), and start parallel workers for a few of them, which on a busy machine
# cost more than they save (a rep's texts: 45 ms with two workers, 16 ms without).
# set_config(..., is_local => true) turns both off until the transaction ends.
_SETTINGS_LOCAL = [Func(Value(name), Value(value), Value(True), function="set_config", output_field=CharField())
                   for name, value in (("jit", "off"), ("max_parallel_workers_per_gather", "0"))]
ATTEMPTS = 3  # statements re-run when a refresh keeps committing in between; then everything live


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _offset(moment: datetime, tz) -> int:
    return int(moment.astimezone(tz).utcoffset().total_seconds())


@dataclass(frozen=True)
class Days:
    """The local days of [start, end) in the active zone, numbered from `split` (the period's
    first midnight). `changes`: (epoch second, UTC offset from then on), the first at start."""

    start: datetime
    split: datetime
    end: datetime
    changes: tuple[tuple[int, int], ...]

    @classmethod
    def between(cls, start: datetime, split: datetime, end: datetime) -> "Days":
        tz = timezone.get_current_timezone()
        changes, moment = [(_epoch(start), _offset(start, tz))], start
        while moment < end:
            step = min(moment + timedelta(days=1), end)
            if _offset(step, tz) != changes[-1][1]:
                low, high = _epoch(moment), _epoch(step)  # bisect to the first second of the new offset
                while high - low > 1:
                    middle = (low + high) // 2
                    if _offset(datetime.fromtimestamp(middle, tz), tz) == changes[-1][1]:
                        low = middle
                    else:
                        high = middle
                changes.append((high, _offset(step, tz)))
            moment = step
        return cls(start=start, split=split, end=end, changes=tuple(changes))

    @property
    def on_slot_edges(self) -> bool:
        """Every bound and offset change on a 15-minute edge (true of every zone in use today)."""
        edges = [_epoch(self.start), _epoch(self.split), _epoch(self.end)] + [at for at, _ in self.changes]
        return all(edge % SLOT_SECONDS == 0 for edge in edges)

    def _number(self, seconds, before) -> ExpressionWrapper:
        offset = Value(self.changes[-1][1])
        if len(self.changes) > 1:
            offset = Case(*[When(before(at), then=Value(previous))
                            for (_, previous), (at, _) in zip(self.changes, self.changes[1:])], default=offset)
        first = (_epoch(self.split) + _offset(self.split, timezone.get_current_timezone())) // DAY_SECONDS
        return ExpressionWrapper((seconds + offset) / DAY_SECONDS - first, output_field=BigIntegerField())

    def of(self, field: str) -> ExpressionWrapper:
        """The day number of a datetime column."""
        return self._number(EpochSeconds(F(field)),
                            lambda at: Q(**{f"{field}__lt": datetime.fromtimestamp(at, tz=dt_timezone.utc)}))

    def of_slot(self) -> ExpressionWrapper:
        """The day number of ActivityCount.slot (no slot straddles a day: on_slot_edges)."""
        return self._number(Cast("slot", BigIntegerField()) * SLOT_SECONDS, lambda at: Q(slot__lt=at // SLOT_SECONDS))

    def slots(self, since: datetime | None = None) -> Q:
        return Q(slot__gte=_epoch(since or self.start) // SLOT_SECONDS, slot__lt=_epoch(self.end) // SLOT_SECONDS)

    def window(self, field: str, since: datetime | None = None) -> Q:
        return Q(**{f"{field}__gte": since or self.start, f"{field}__lt": self.end})


def part(queryset: QuerySet, key, bucket, n) -> QuerySet:
    """`queryset` as rows (key, bucket, n): grouped by key and bucket, n an aggregate."""
    key = Value(key) if isinstance(key, str) else key
    bucket = Value(bucket) if isinstance(bucket, int) else bucket
    return queryset.order_by().values(key=key, bucket=bucket).annotate(n=n)


def _run(parts: list[QuerySet]) -> dict[tuple[str, int], int]:
    first, *rest = parts
    totals: dict[tuple[str, int], int] = {}
    for row in (first.union(*rest, all=True).order_by() if rest else first):
        key = (row["key"], row["bucket"])
        totals[key] = totals.get(key, 0) + (row["n"] or 0)
    return totals


@dataclass(frozen=True)
class Sources:
    """What one statement saw of the refresh: per source (watermark, or -1 when dirty; version)
    and the newest RollupLeadMove id (0: no lead waiting to be moved)."""

    marks: dict[str, tuple[int, int]]
    moves: int

    @staticmethod
    def parts(settings_local: bool = False) -> list[QuerySet]:
        """`settings_local` (PostgreSQL, in a transaction): the statement also sets
        _SETTINGS_LOCAL for the rest of the transaction, saving a statement of its own."""
        newest_move = Coalesce(Max("pk"), 0, output_field=BigIntegerField())
        if settings_local:
            for setting in _SETTINGS_LOCAL:
                newest_move = newest_move + Length(setting) * 0
        return [
            part(RollupSource.objects.all(), F("name"), F("version"),
                 Max(Case(When(dirty=True, then=Value(-1)), default=F("watermark"), output_field=BigIntegerField()))),
            part(RollupLeadMove.objects.all(), "moves", 0, newest_move),
        ]

    @classmethod
    def seen_in(cls, totals: dict) -> "Sources":
        return cls(marks={key: (n, bucket) for (key, bucket), n in totals.items() if key in COUNTED},
                   moves=totals.get(("moves", 0), 0))

    def watermark(self, name: str) -> int:
        """Rows with id <= this are counted in ActivityCount; 0 (every row counted live) when
        never refreshed or dirty."""
        return max(0, self.marks.get(name, (0, 0))[0])


def counts_in_one_statement(build) -> dict[tuple[str, int], int]:
    """n summed per (key, bucket) over the parts `build(sources)` gives, counted in one statement
    that also re-reads the watermarks it was built with (see the module docstring): two
    statements in one transaction (the first also sets _SETTINGS_LOCAL on PostgreSQL), more only
    when a refresh commits in between."""
    with transaction.atomic():
        sources = Sources.seen_in(_run(Sources.parts(settings_local=connection.vendor == "postgresql")))
        for _ in range(ATTEMPTS):
            totals = _run(build(sources) + Sources.parts())
            if Sources.seen_in(totals) == sources:
                return totals
            sources = Sources.seen_in(totals)
        return _run(build(Sources(marks={}, moves=0)))  # every count live: no watermark to agree on


def activity_parts(sources: Sources, days: Days, metrics, *, rep_id: int | None = None,
                   by_rep: bool = False) -> list[QuerySet]:
    """Parts counting `metrics` per day of `days` (keys: the metrics), for the team or one rep;
    `by_rep`: per rep (keys "rep:<metric>", buckets: rep ids, NO_REP for none) over the period
    alone instead."""
    result = []
    prefix = "rep:" if by_rep else ""
    since = days.split if by_rep else None
    scoped = rep_id is not None or by_rep
    for name, counted in COUNTED.items():
        wanted = [metric for metric in counted.metrics if metric in metrics]
        if not wanted:
            continue
        stored = days.on_slot_edges and (counted.per_rep or not scoped)
        watermark = sources.watermark(name) if stored else 0
        rows = counted.model.objects.filter(days.window("created_at", since), pk__gt=watermark).filter(
            counted.rows(wanted))
        if rep_id is not None:
            rows = rows.filter(**{counted.lead_rep: rep_id})
        bucket = _rep_of(counted) if by_rep else days.of("created_at")
        result.append(part(rows, _named(counted.metric_of(wanted), prefix), bucket, Count("*")))
        if not watermark:
            continue
        stored_rows = ActivityCount.objects.filter(days.slots(since), metric__in=wanted)
        if by_rep:
            result.append(part(stored_rows.exclude(rep_id=TEAM), _named(F("metric"), prefix), F("rep_id"),
                               Sum("rows")))
        else:
            stored_rows = stored_rows.filter(rep_id=TEAM if rep_id is None else rep_id)
            result.append(part(stored_rows, F("metric"), days.of_slot(), Sum("rows")))
        if scoped and sources.moves:
            result += _moved(counted, wanted, days, watermark, rep_id=rep_id, by_rep=by_rep)
    return result


def _named(metric, prefix: str):
    if not prefix:
        return metric
    return Value(prefix + metric.value) if isinstance(metric, Value) else Concat(Value(prefix), metric)


def _rep_of(counted):
    return Coalesce(counted.lead_rep, Value(NO_REP), output_field=IntegerField())


def _moved(counted, wanted: list[str], days: Days, watermark: int, *, rep_id: int | None,
           by_rep: bool) -> list[QuerySet]:
    """Counted rows of leads given to another rep since the last refresh: added to the rep the
    lead has now, taken from the rep they were counted under (its first logged previous rep)."""
    counted_under = Subquery(RollupLeadMove.objects.filter(lead_id=OuterRef("lead_id")).order_by("pk")
                             .values("from_rep_id")[:1])
    moved = (counted.model.objects
             .filter(days.window("created_at", days.split if by_rep else None), pk__lte=watermark,
                     lead_id__in=RollupLeadMove.objects.values("lead_id"))
             .filter(counted.rows(wanted))
             .alias(was=counted_under, now=_rep_of(counted)).exclude(was=F("now")))
    metric = counted.metric_of(wanted)
    if by_rep:
        metric = _named(metric, "rep:")
        return [part(moved, metric, F("now"), Count("*")), part(moved, metric, F("was"), Count("*") * -1)]
    day = days.of("created_at")
    return [part(moved.filter(now=rep_id), metric, day, Count("*")),
            part(moved.filter(was=rep_id), metric, day, Count("*") * -1)]
