"""Keeps the dashboard's pre-counted activity (crm.models.reporting.ActivityCount) exact.

`rollups_refresh` (scheduled every minute, crm/services/schedules.py) counts, for each source of
COUNTED, the rows that settled since its last run into their 15-minute slots (for the team and,
for texts and preview views, for the rep of the row's lead; CHUNK ids per source and run at
most), folds in the leads that changed rep (RollupLeadMove: their counted rows move to the new
rep) and starts a source a deleted row made dirty again from id 0. The reader (crm/selectors/activity.py) adds the rows above each watermark, live: the sum
is exact at every instant, and tests/crm/services/test_rollups.py compares it with a recount.

Settled: ids come from a sequence, so a row with a lower id can still be in an open transaction
when a higher one is visible. A watermark only passes id `c`, read at database time `t`, once no
transaction in this database that began at or before `t` is still open (pg_stat_activity; the
app's own role sees its sessions, which are the ones that insert). Until then `c` waits as the
candidate for the next run and the reader counts those rows live. On SQLite writers take turns,
so what is visible is settled.

One refresh is one transaction that first locks RollupSource EXCLUSIVE (PostgreSQL: then takes
its REPEATABLE READ snapshot), so the delete triggers of migration 0019 either see its new
watermarks or happened before its snapshot, and its folds, new counts and watermarks agree.
"""

from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Count, IntegerField, Max, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.models import ActivityCount, RollupLeadMove, RollupSource
from crm.models.reporting import COUNTED, NO_REP, TEAM, slot_of

BATCH = 5000
CHUNK = 1_000_000  # ids counted per source and run


def rollups_refresh() -> dict[str, str]:
    """Bring every source's counts up to its settled rows (CHUNK ids per run at most). Returns
    what was done per source: "counted <n> rows up to id <id>" (after "started again; " for a
    dirty or new source), "moved rows of <n> leads", or "unchanged" once it is up to date."""
    settled = {name: _settled_id(name) for name in COUNTED}  # before the snapshot: see the module docstring
    outcome = {}
    with transaction.atomic():
        _lock_then_snapshot()
        sources = {source.name: source for source in RollupSource.objects.all()}
        for name in COUNTED:
            if name not in sources:
                sources[name] = RollupSource.objects.create(name=name)
        moved = _moves_fold(sources)
        for name, counted in COUNTED.items():
            source = sources[name]
            outcome[name] = _source_refresh(source, counted, settled[name])
            if outcome[name] == "unchanged" and moved.get(name):
                outcome[name] = f"moved rows of {moved[name]} leads"
            if outcome[name] != "unchanged":
                source.version += 1
            source.refreshed_at = timezone.now()
            source.save()
    return outcome


def _lock_then_snapshot() -> None:
    """PostgreSQL: lock out the delete triggers' writers, then (when this transaction is ours,
    not a caller's) take one snapshot for the whole refresh. SQLite: the transaction already
    holds the write lock (IMMEDIATE) and reads one state."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if len(connection.atomic_blocks) == 1:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("LOCK TABLE crm_rollupsource IN EXCLUSIVE MODE")  # takes no snapshot


def _rebuilding(source: RollupSource) -> bool:
    return source.dirty or (source.version == 0 and source.watermark == 0)


def _settled_id(name: str) -> int | None:
    """The highest id of the source whose rows all settled (see the module docstring), from the
    candidate of the previous run or the rows visible now; None when nothing new settled. Records
    what is visible now as the next run's candidate."""
    model = COUNTED[name].model
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            return model.objects.aggregate(top=Max("pk"))["top"]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0), statement_timestamp() FROM {model._meta.db_table}")
        top, seen_at = cursor.fetchone()
        source = RollupSource.objects.filter(name=name).values("candidate_id", "candidate_at").first() or {}
        settled = None
        for candidate, since in ((top, seen_at), (source.get("candidate_id"), source.get("candidate_at"))):
            if candidate and since and _no_transaction_open_since(cursor, since):
                settled = max(settled or 0, candidate)
        RollupSource.objects.filter(name=name).update(candidate_id=top, candidate_at=seen_at)
        return settled


def _no_transaction_open_since(cursor, moment) -> bool:
    cursor.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start <= %s)", [moment])
    return cursor.fetchone()[0]


def _source_refresh(source: RollupSource, counted, settled: int | None) -> str:
    """Count the source's settled rows above its watermark, CHUNK ids at most (a run stays well
    inside the worker's task timeout; the rest waits for the next run and is counted live
    meanwhile). A dirty or never counted source starts again from id 0."""
    outcome = ""
    if _rebuilding(source):
        ActivityCount.objects.filter(metric__in=list(counted.metrics)).delete()
        source.watermark, source.dirty, outcome = 0, False, "started again; "
    upto = min(settled or 0, source.watermark + CHUNK)
    if upto <= source.watermark:
        return outcome + "unchanged" if outcome else "unchanged"
    added = _count_rows(counted, source.watermark, upto)
    _add(added)
    source.watermark = upto
    return f"{outcome}counted {sum(n for (_, rep, _), n in added.items() if rep == TEAM)} rows up to id {upto}"


def _count_rows(counted, above: int, upto: int) -> dict[tuple[str, int, int], int]:
    """(metric, rep_id, slot) -> rows of `counted` with above < id <= upto, for the team and,
    per_rep, for each lead's rep."""
    rows = counted.model.objects.filter(pk__gt=above, pk__lte=upto).filter(counted.rows(counted.metrics)).order_by()
    keys = {"metric": counted.metric_of(counted.metrics), "slot": slot_of("created_at")}
    if counted.per_rep:
        keys["rep"] = Coalesce(counted.lead_rep, Value(NO_REP), output_field=IntegerField())
    result: dict[tuple[str, int, int], int] = defaultdict(int)
    for row in rows.values(**keys).annotate(n=Count("pk")).iterator(chunk_size=BATCH):
        result[(row["metric"], TEAM, row["slot"])] += row["n"]
        if counted.per_rep:
            result[(row["metric"], row["rep"], row["slot"])] += row["n"]
    return result


def _add(deltas: dict[tuple[str, int, int], int]) -> None:
    """Add `deltas` to the stored counts (the table is locked: no other writer)."""
    deltas = {key: n for key, n in deltas.items() if n}
    if not deltas:
        return
    slots = [slot for _, _, slot in deltas]
    existing = ActivityCount.objects.filter(metric__in={m for m, _, _ in deltas}, slot__gte=min(slots),
                                            slot__lte=max(slots))
    merged = dict(deltas)
    for metric, rep_id, slot, rows in existing.values_list("metric", "rep_id", "slot", "rows").iterator(BATCH):
        if (metric, rep_id, slot) in merged:
            merged[(metric, rep_id, slot)] += rows
    ActivityCount.objects.bulk_create(
        [ActivityCount(metric=m, rep_id=r, slot=s, rows=n) for (m, r, s), n in merged.items()],
        update_conflicts=True, unique_fields=["metric", "rep_id", "slot"], update_fields=["rows"], batch_size=BATCH)
    if any(n < 0 for n in deltas.values()):  # a moved lead's rows left a rep's slot empty
        existing.filter(rows=0).delete()


def _moves_fold(sources: dict[str, RollupSource]) -> dict[str, int]:
    """Move the counted rows of every lead logged as given to another rep from the rep it had
    when they were counted (its first logged previous rep) to its rep now; drop the log entries.
    Returns per source the number of leads whose rows moved."""
    moves = list(RollupLeadMove.objects.order_by("pk").values_list("pk", "lead_id", "from_rep_id"))
    if not moves:
        return {}
    counted_under: dict[int, int] = {}
    for _, lead_id, from_rep in moves:
        counted_under.setdefault(lead_id, from_rep)
    moved = {}
    for name, counted in COUNTED.items():
        if not counted.per_rep or _rebuilding(sources[name]):
            continue  # a rebuild counts every row under its lead's rep now
        deltas: dict[tuple[str, int, int], int] = defaultdict(int)
        leads = list(counted_under)
        movers = set()
        for start in range(0, len(leads), BATCH):
            rows = counted.model.objects.filter(
                pk__lte=sources[name].watermark, lead_id__in=leads[start:start + BATCH]).filter(
                counted.rows(counted.metrics)).order_by().values(
                "lead_id", metric=counted.metric_of(counted.metrics), slot=slot_of("created_at"),
                rep=Coalesce(counted.lead_rep, Value(NO_REP), output_field=IntegerField()),
            ).annotate(n=Count("pk"))
            for row in rows:
                before = counted_under[row["lead_id"]]
                if before != row["rep"]:
                    deltas[(row["metric"], before, row["slot"])] -= row["n"]
                    deltas[(row["metric"], row["rep"], row["slot"])] += row["n"]
                    movers.add(row["lead_id"])
        _add(deltas)
        moved[name] = len(movers)
    # Only the entries this snapshot saw: one committed later (even with a lower id) stays.
    RollupLeadMove.objects.filter(pk__lte=moves[-1][0]).delete()
    return moved
