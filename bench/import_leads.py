"""Benchmark lead import on PostgreSQL against django-import-export's default import.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/import_leads.py --rows 100000 --existing 100000

It creates its own database (`crm_bench_import`) on that server, loads --existing leads
with generate_series, and writes a messy CSV of --rows rows: phones in mixed formats
(some as Excel's 1.2125550143E10), 5% invalid phones, 5% duplicates of earlier rows of
the file, and half the rows with a phone already in the database. Then it:

1. times django-import-export's default `import_data` (a plain ModelResource keyed by
   phone) on a 10,000-row slice of the same rows, given already-normalised phones and
   no invalid rows (an easier job), and rolls it back;
2. times `manage.py import_leads` on the whole file: the production code path
   (read, match columns, validate, plan, write in chunks, timeline entries).

Last line: `import: X rows/s; import-export default: Y rows/s; ratio Z; peak RSS M MB`.
Goal (issue 3): X >= 10,000 and Z >= 12.
"""

import argparse
import csv
import io
import os
import random
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

from benchdb import drop_database, prepare_database, server_urls

PROJECT_DIR = Path(__file__).resolve().parent.parent
AREAS = ["212", "415", "312", "617", "305", "206", "303", "512"]
SLICE = 10_000
GOAL_RATE, GOAL_RATIO = 10_000, 12

LOAD_EXISTING_SQL = """
INSERT INTO crm_lead (
    business_name, contact_first_name, contact_last_name, phone, email, website, address, city,
    state, postcode, country, category, status, priority, time_zone, time_zone_source,
    enrichment_data, enrichment_status, enrichment_error, enrichment_attempts, first_line,
    first_line_status, first_line_source, first_line_facts, engagement_score, consent_source,
    preview_token, notes, created_at, updated_at
)
SELECT 'Existing business ' || i, '', '', {phone}, '', '', '', 'Austin', 'TX', '78701', 'US', '',
       'NEW', 'NORMAL', '', '', '{{}}'::jsonb, 'done', '', 0, '', 'pending', '', '{{}}'::jsonb, 0, '',
       md5('t' || i) || md5('u' || i), '', now(), now()
FROM generate_series(1, {count}) AS i
"""
PHONE_SQL = "'+1' || (ARRAY['212','415','312','617','305','206','303','512'])[1 + i % 8] || (2000000 + i / 8)::text"


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


def messy_rows(rows: int, existing: int, rng: random.Random) -> tuple[list[list[str]], list[str | None]]:
    """The file's rows and, per row, its E.164 phone (None when invalid)."""
    table, phones = [], []
    new_index = existing + 1
    existing_pool = rng.sample(range(1, existing + 1), k=min(existing, rows // 2)) if existing else []
    for n in range(rows):
        roll = rng.random()
        if roll < 0.05 and table:
            k = rng.randrange(len(table))  # an in-file duplicate, written another way
            i, invalid = int(table[k][-1]), phones[k] is None
        elif roll < 0.10:
            i, invalid = 0, True
        else:
            invalid = False
            if existing_pool and n % 2 == 0:
                i = existing_pool.pop()
            else:
                i, new_index = new_index, new_index + 1
        a, b, c = phone_parts(i)
        phone = f"555-01{rng.randrange(10)}" if invalid else rng.choice(FORMATS)(a, b, c)
        table.append([f"Business {i}", phone, f"owner{i}@example.com" if rng.random() < .7 else "",
                      f"biz{i}.com" if rng.random() < .5 else "", "Austin", "Texas", "78701",
                      rng.choice(["plumber", "dentist", "salon", "cafe"]), str(i)])
        phones.append(None if invalid else f"+1{a}{b}{c}")
    return table, phones


def to_csv(table: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADERS)
    writer.writerows(table)
    return out.getvalue().encode()


def time_import_export(table: list[list[str]], phones: list[str | None]) -> tuple[int, float]:
    """django-import-export's default import_data on the first SLICE rows, rolled back."""
    import tablib
    from django.db import transaction
    from import_export import resources

    from crm.models import Lead

    class LeadResource(resources.ModelResource):
        class Meta:
            model = Lead
            import_id_fields = ["phone"]
            fields = ["business_name", "phone", "email", "website", "city", "state", "postcode", "category"]

    dataset = tablib.Dataset(headers=["business_name", "phone", "email", "website", "city", "state",
                                      "postcode", "category"])
    for row, phone in zip(table[:SLICE], phones[:SLICE]):
        if phone:
            dataset.append([row[0], phone, row[2], "https://" + row[3] if row[3] else "", row[4], "TX", row[6], row[7]])

    class Rollback(Exception):
        pass

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--db-name", default="crm_bench_import")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the import")
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    os.environ["DATABASE_URL"] = bench_url
    media = tempfile.mkdtemp(prefix="bench-import-media-")

    import django
    from django.conf import settings

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    settings.MEDIA_ROOT = media
    from django.core.management import call_command
    from django.db import connection

    from crm.models import Lead, TimelineEvent

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    if args.existing:
        with connection.cursor() as cursor:
            cursor.execute(LOAD_EXISTING_SQL.format(phone=PHONE_SQL, count=int(args.existing)))
            cursor.execute("VACUUM ANALYZE crm_lead")
    print(f"Loaded {Lead.objects.count():,} existing leads in {time.perf_counter() - started:.1f} s.")

    table, phones = messy_rows(args.rows, args.existing, random.Random(42))
    data = to_csv(table)
    path = Path(tempfile.mkdtemp(prefix="bench-import-")) / "messy-leads.csv"
    path.write_bytes(data)
    print(f"Wrote {args.rows:,} rows ({len(data) / 1_048_576:.1f} MB) to {path}.")

    ie_rows, ie_seconds = time_import_export(table, phones)

    before = Lead.objects.count()
    out = io.StringIO()
    started = time.perf_counter()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(call_command, "import_leads", str(path), stdout=out)
        elapsed = time.perf_counter() - started
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    else:
        call_command("import_leads", str(path), stdout=out)
        elapsed = time.perf_counter() - started
    print(f"manage.py import_leads: {args.rows:,} rows in {elapsed:.2f} s -> {out.getvalue().strip()}")
    created = Lead.objects.count() - before
    events = TimelineEvent.objects.filter(kind="imported").count()
    print(f"check: {created:,} leads created, {events:,} 'imported' timeline entries")
    if created != events:
        sys.exit("the import's timeline does not match the leads it created")

    rate = args.rows / elapsed
    ie_rate = ie_rows / ie_seconds
    ratio = rate / ie_rate
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    met = rate >= GOAL_RATE and ratio >= GOAL_RATIO
    print(f"Goal X >= {GOAL_RATE:,} rows/s and ratio >= {GOAL_RATIO}: {'met' if met else 'NOT met'}.")
    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"import: {rate:,.0f} rows/s; import-export default: {ie_rate:,.0f} rows/s; "
          f"ratio {ratio:.1f}; peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
