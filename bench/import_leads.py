"""Benchmark lead import on PostgreSQL against django-import-export's default import and a plain
Django bulk_create of the same validated rows, with the import's peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/import_leads.py --rows 100000 --existing 100000

It creates its own database (`crm_bench_import`) on that server, loads --existing leads
with generate_series (--empty: none), and writes, row by row, a messy CSV of --rows rows:
phones in mixed formats (some as Excel's 1.2125550143E10), 5% invalid phones, 5% duplicates
of earlier rows of the file, and half the rows with a phone already in the database (when
there are existing leads). Then, in this process:

1. django-import-export's default `import_data` (a plain ModelResource keyed by phone) on a
   10,000-row slice of the same rows, given already-normalised phones and no invalid rows
   (an easier job), rolled back;
2. the same-run reference: a plain `Lead.objects.bulk_create(..., batch_size=1000)` of the
   rows the import will create, already validated (up to 100,000 of them), rolled back;

and then, in a child process of its own (so its peak RSS is the import's alone, read from the
kernel when it exits), `manage.py import_leads` on the whole file: the production code path,
the whole import (read, match columns, validate, dedupe, write in chunks with timeline
entries, queue enrichment), timed around the command.

Checks (exit 1 when broken): the command's counts equal what the file was built to hold,
every created lead has its "imported" timeline entry, and the enrichment was queued.

Last line: `import: X rows/s; import-export default: Y rows/s; ratio Z; bulk_create: B rows/s;
vs bulk_create W; peak RSS M MB`. Goals (issue 10): W >= 3 with --rows 100000 --empty;
M <= 300 with --rows 1000000; Z >= 12 with --existing 100000. `--smoke` (CI): 3,000 rows,
1,000 existing, import-export on 1,000.
"""

import argparse
import csv
import io
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
import warnings
from itertools import batched
from pathlib import Path

from benchdb import drop_database, insert_select, prepare_database, server_urls

PROJECT_DIR = Path(__file__).resolve().parent.parent
AREAS = ["212", "415", "312", "617", "305", "206", "303", "512"]
CATEGORIES = ["plumber", "dentist", "salon", "cafe"]
SLICE = 10_000
REFERENCE_MAX = 100_000
GOAL_RATIO, GOAL_VS_BULK, GOAL_RSS_MB = 12, 3, 300

PHONE_SQL = "'+1' || (ARRAY['212','415','312','617','305','206','303','512'])[1 + i % 8] || (2000000 + i / 8)::text"
EXISTING_COLUMNS = {
    "business_name": "'Existing business ' || i", "phone": PHONE_SQL, "city": "'Austin'", "state": "'TX'",
    "postcode": "'78701'", "country": "'US'", "enrichment_status": "'done'",
    "preview_token": "md5('t' || i) || md5('u' || i)",
}


def phone_parts(i: int) -> tuple[str, str, str]:
    """The same number PHONE_SQL gives lead i, split as area, exchange, line."""
    digits = f"{AREAS[i % 8]}{2000000 + i // 8}"
    return digits[:3], digits[3:6], digits[6:]


FORMATS = [
    lambda a, b, c: f"({a}) {b}-{c}",
    lambda a, b, c: f"{a}-{b}-{c}",
    lambda a, b, c: f"+1 {a} {b} {c}",
    lambda a, b, c: f"{a}.{b}.{c}",
    lambda a, b, c: f"1{a}{b}{c}",
    lambda a, b, c: f"1.{a}{b}{c}E10",
]
HEADERS = ["Business Name", "Phone Number", "E-mail", "Website", "City", "State", "Zip", "Category", "Notes"]


def lead_fields(i: int) -> dict:
    """What the import makes of business i's row, once validated: the bulk_create reference's input."""
    a, b, c = phone_parts(i)
    fields = {"business_name": f"Business {i}", "phone": f"+1{a}{b}{c}", "city": "Austin", "state": "TX",
              "postcode": "78701", "country": "US", "category": CATEGORIES[i % 4]}
    if i % 10 < 7:
        fields["email"] = f"owner{i}@example.com"
    if i % 2 == 0:
        fields["website"] = f"https://biz{i}.com"
    return fields


def write_messy_csv(path: Path, rows: int, existing: int, rng: random.Random, slice_size: int = SLICE) -> dict:
    """Write the file row by row; return what it holds: counts per action, the new businesses
    (a range of i), and the valid rows among the first `slice_size` for import-export."""
    earlier: list[int] = []  # i of every earlier row (0: an invalid phone), for in-file duplicates
    seen: set[int] = set()
    new_index = existing + 1
    pool = rng.sample(range(1, existing + 1), k=min(existing, rows // 2)) if existing else []
    expected = {"created": 0, "updated": 0, "skipped": 0, "duplicates": 0, "invalid": 0}
    slice_rows = []
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for n in range(rows):
            roll = rng.random()
            if roll < 0.05 and earlier:
                i = earlier[rng.randrange(len(earlier))]  # an in-file duplicate, written another way
            elif roll < 0.10:
                i = 0  # an invalid phone
            elif pool and n % 2 == 0:
                i = pool.pop()
            else:
                i, new_index = new_index, new_index + 1
            earlier.append(i)
            if i == 0:
                expected["invalid"] += 1
                phone = f"555-01{rng.randrange(10)}"
            else:
                phone = rng.choice(FORMATS)(*phone_parts(i))
                if i in seen:
                    expected["duplicates"] += 1
                else:
                    seen.add(i)
                    expected["created" if i > existing else "skipped"] += 1
            fields = lead_fields(max(i, 1))
            writer.writerow([f"Business {i}", phone, fields.get("email", ""),
                             fields.get("website", "").removeprefix("https://"), "Austin", "Texas", "78701",
                             fields["category"], str(i)])
            if i and n < slice_size:
                slice_rows.append(lead_fields(i))
    return {"expected": expected, "new": range(existing + 1, new_index), "slice": slice_rows}


class Rollback(Exception):
    pass


def time_import_export(slice_rows: list[dict]) -> tuple[int, float]:
    """django-import-export's default import_data on the file's first valid rows, rolled back."""
    import tablib
    from django.db import transaction
    from import_export import resources

    from crm.models import Lead

    columns = ["business_name", "phone", "email", "website", "city", "state", "postcode", "category"]

    class LeadResource(resources.ModelResource):
        class Meta:
            model = Lead
            import_id_fields = ["phone"]
            fields = columns

    dataset = tablib.Dataset(headers=columns)
    for fields in slice_rows:
        dataset.append([fields.get(name, "") for name in columns])
    started = time.perf_counter()
    try:
        with transaction.atomic():
            result = LeadResource().import_data(dataset, dry_run=False, raise_errors=True)
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    print(f"import-export default: {len(dataset):,} rows in {elapsed:.2f} s "
          f"(new {result.totals['new']:,}, update {result.totals['update']:,}), rolled back")
    return len(dataset), elapsed


def time_bulk_create(new: range) -> tuple[int, float]:
    """A plain bulk_create of the validated rows the import creates (up to REFERENCE_MAX), rolled back."""
    from django.db import transaction

    from crm.models import Lead

    ids = new[:REFERENCE_MAX]
    started = time.perf_counter()
    try:
        with transaction.atomic():
            for part in batched(ids, 5000):
                Lead.objects.bulk_create([Lead(**lead_fields(i)) for i in part], batch_size=1000)
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    print(f"bulk_create (same validated rows): {len(ids):,} leads in {elapsed:.2f} s, rolled back")
    return len(ids), elapsed


def run_import_child(path: Path, env: dict, profile: bool) -> tuple[float, str, float]:
    """manage.py import_leads in a child process: (seconds around the command, its output, peak RSS MB)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child-import", str(path)]
    if profile:
        command.append("--profile")
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = output.strip().splitlines()
    if child.returncode != 0 or not lines:
        sys.exit(f"import_leads child failed (exit {child.returncode}):\n{output}")
    if profile:
        print("\n".join(lines[:-1]))
    result = json.loads(lines[-1])
    return result["seconds"], result["output"], usage.ru_maxrss / 1024


def child_import(path: str, profile: bool) -> None:
    """In the child: set Django up and time the command alone."""
    sys.path.insert(0, str(PROJECT_DIR))
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.MEDIA_ROOT = os.environ["BENCH_MEDIA_ROOT"]
    out = io.StringIO()
    started = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(call_command, "import_leads", path, stdout=out)
        seconds = time.perf_counter() - started
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    else:
        call_command("import_leads", path, stdout=out)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "output": out.getvalue().strip()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--empty", action="store_true", help="no existing leads (same as --existing 0)")
    parser.add_argument("--smoke", action="store_true", help="CI size: 3,000 rows, 1,000 existing")
    parser.add_argument("--db-name", default="crm_bench_import")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the import")
    parser.add_argument("--child-import", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_import:
        child_import(args.child_import, args.profile)
        return
    if args.smoke:
        args.rows, args.existing = 3_000, 1_000
    if args.empty:
        args.existing = 0

    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ["REDIS_URL"] = ""  # the ORM broker: the queued enrichment waits in the bench database, unrun
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    os.environ["DATABASE_URL"] = bench_url
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    os.environ["BENCH_MEDIA_ROOT"] = str(workdir / "media")  # the stored upload goes here, not into media/

    started = time.perf_counter()
    path = workdir / "messy-leads.csv"
    built = write_messy_csv(path, args.rows, args.existing, random.Random(42), 1_000 if args.smoke else SLICE)
    size_mb = path.stat().st_size / 1_048_576
    print(f"Wrote {args.rows:,} rows ({size_mb:.1f} MB) to {path} in {time.perf_counter() - started:.1f} s; "
          f"it holds {built['expected']}.")
    # The upload limit is for browsers; this file may be bigger.
    os.environ["IMPORT_MAX_UPLOAD_MB"] = str(max(50, math.ceil(size_mb) + 1))

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django_q.models import OrmQ

    from crm.models import Lead, TimelineEvent

    settings.MEDIA_ROOT = os.environ["BENCH_MEDIA_ROOT"]
    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    if args.existing:
        with connection.cursor() as cursor:
            cursor.execute(insert_select(Lead, EXISTING_COLUMNS, f"FROM generate_series(1, {int(args.existing)}) AS i"))
            cursor.execute("VACUUM ANALYZE crm_lead")
    print(f"Loaded {Lead.objects.count():,} existing leads in {time.perf_counter() - started:.1f} s.")

    ie_rows, ie_seconds = time_import_export(built["slice"])
    bulk_rows, bulk_seconds = time_bulk_create(built["new"])
    with connection.cursor() as cursor:
        # The rolled-back rows leave dead tuples and index entries: start the import from a clean table.
        cursor.execute("VACUUM FULL ANALYZE crm_lead")
        cursor.execute("VACUUM FULL ANALYZE crm_timelineevent")

    before = Lead.objects.count()
    elapsed, output, peak_mb = run_import_child(path, dict(os.environ), args.profile)
    print(f"manage.py import_leads (child process): {args.rows:,} rows in {elapsed:.2f} s -> {output}; "
          f"peak RSS {peak_mb:.0f} MB")

    problems = []
    expected = built["expected"]
    counts = dict(part.split("=") for part in output.split())
    if {key: int(value) for key, value in counts.items()} != {**expected, "updated": 0}:
        problems.append(f"the command's counts {counts} are not what the file holds {expected}")
    created = Lead.objects.count() - before
    events = TimelineEvent.objects.filter(kind="imported").count()
    print(f"check: {created:,} leads created, {events:,} 'imported' timeline entries, "
          f"{OrmQ.objects.count()} task(s) queued")
    if created != events or created != expected["created"]:
        problems.append(f"{created} leads created, {events} timeline entries, {expected['created']} expected")
    if created and not OrmQ.objects.exists():
        problems.append("the enrichment of the new leads was not queued")

    rate = args.rows / elapsed
    ie_rate = ie_rows / ie_seconds
    bulk_rate = bulk_rows / bulk_seconds
    ratio, vs_bulk = rate / ie_rate, rate / bulk_rate
    print(f"Goals: ratio to import-export >= {GOAL_RATIO} (with existing leads): {ratio:.1f}; "
          f"vs bulk_create >= {GOAL_VS_BULK} (--empty): {vs_bulk:.2f}; peak RSS <= {GOAL_RSS_MB} MB "
          f"(1,000,000 rows): {peak_mb:.0f} MB.")
    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    if problems:
        print("problems:\n  " + "\n  ".join(problems))
    print(f"import: {rate:,.0f} rows/s; import-export default: {ie_rate:,.0f} rows/s; ratio {ratio:.1f}; "
          f"bulk_create: {bulk_rate:,.0f} rows/s; vs bulk_create {vs_bulk:.2f}; peak RSS {peak_mb:.0f} MB")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
