"""Benchmark the lead changelist (/admin/crm/lead/) on PostgreSQL with many leads.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/changelist.py --rows 1000000

DATABASE_URL only says which server to use: the benchmark creates its own database
(`crm_bench` by default) beside the one named there, migrates it, loads --rows leads with
one INSERT ... SELECT FROM generate_series, and keeps it for the next run (reused while
it holds exactly --rows leads; --fresh rebuilds it, --drop removes it at the end).

It then requests the changelist in-process with django.test.Client as an ADMIN-group
user and as a REP (first page, page 2, a status filter, and the admin's rep filter),
times each request and counts its queries, EXPLAIN ANALYZEs the queries of one request
per scenario, and ends with one line:

    changelist: p50=<ms> p95=<ms> queries=<max queries per request>

Goal (issue): p50 <= 150 ms and queries <= 10 at 1,000,000 rows.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
MAX_ROWS = 9_999_999  # phones are '+1555' plus 7 digits
GOAL_P50_MS = 150
GOAL_QUERIES = 10

ADMIN_USERNAME = "bench_admin"
REP_USERNAMES = ("bench_rep1", "bench_rep2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="leads to load (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per scenario first")
    parser.add_argument("--db-name", default="crm_bench", help="database the benchmark owns")
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the bench database")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE")
    args = parser.parse_args()
    if not 1 <= args.rows <= MAX_ROWS:
        parser.error(f"--rows must be between 1 and {MAX_ROWS:,}")
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be >= 1 and --warmup >= 0")
    return args


from benchdb import drop_database, percentile, prepare_database, server_urls  # noqa: E402


# --- loading (Django is set up from here on) ----------------------------------------------

# Every NOT NULL column is given: raw SQL gets none of the model's Python defaults.
LOAD_LEADS_SQL = """
INSERT INTO crm_lead (
    business_name, contact_first_name, contact_last_name, phone, email, website,
    address, city, state, postcode, country, category, source_batch_id,
    status, priority, assigned_rep_id, latitude, longitude, time_zone, time_zone_source,
    enrichment_data, enrichment_status, enrichment_error, enrichment_attempts, enriched_at,
    first_line, first_line_status, first_line_source, first_line_facts, engagement_score,
    consent_source, consent_at, opted_out_at, number_flagged_at, needs_human_at, hot_at,
    last_contacted_at, last_viewed_at, preview_token, notes, created_at, updated_at
)
SELECT
    (ARRAY['Sunrise','Maple','Blue Sky','Golden','Riverside','Summit','Oak Street',
           'Harbor','Evergreen','Main Street'])[1 + i % 10]
        || ' ' || (ARRAY['Plumbing','Bakery','Dental','Auto Repair','Salon','Landscaping',
                         'Roofing','Cafe','Pet Grooming','Fitness'])[1 + (i / 10) % 10]
        || ' ' || i,
    (ARRAY['James','Maria','Robert','Linda','Michael','Sarah','David','Karen'])[1 + i % 8],
    (ARRAY['Smith','Garcia','Johnson','Brown','Lee','Miller','Davis','Wilson'])[1 + (i / 8) % 8],
    '+1555' || lpad(i::text, 7, '0'),
    CASE WHEN i % 3 = 0 THEN '' ELSE 'owner' || i || '@example.com' END,
    CASE WHEN i % 4 = 0 THEN '' ELSE 'https://business' || i || '.example.com' END,
    (100 + i % 9900) || ' Main St',
    (ARRAY['Austin','Denver','Tampa','Portland','Columbus','Phoenix','Raleigh','Boise'])[1 + i % 8],
    (ARRAY['TX','CO','FL','OR','OH','AZ','NC','ID'])[1 + i % 8],
    lpad((10000 + i % 89999)::text, 5, '0'),
    'US',
    (ARRAY['plumber','bakery','dentist','mechanic','salon','landscaper','roofer','cafe'])[1 + (i / 10) % 8],
    NULL,
    -- Status and priority skewed like a real pipeline: most leads new or contacted.
    (ARRAY['NEW','NEW','NEW','NEW','NEW','NEW','NEW','NEW','CONTACTED','CONTACTED',
           'CONTACTED','CONTACTED','CONTACTED','ENGAGED','ENGAGED','REPLIED','REPLIED',
           'NEGOTIATING','PAID','LOST'])[1 + (i * 7) % 20],
    (ARRAY['NORMAL','NORMAL','NORMAL','NORMAL','NORMAL','NORMAL','NORMAL','WARM','WARM',
           'HOT'])[1 + (i * 3) % 10],
    -- 40% rep 1, 40% rep 2, 20% unassigned.
    CASE WHEN i % 5 IN (0, 1) THEN {rep1} WHEN i % 5 IN (2, 3) THEN {rep2} END,
    CASE WHEN i % 2 = 0 THEN round((25 + (i % 2300) / 100.0)::numeric, 6) END,
    CASE WHEN i % 2 = 0 THEN round((-70 - (i % 5000) / 100.0)::numeric, 6) END,
    '', '',
    '{}'::jsonb,
    (ARRAY['pending','done','done','done','not_found','failed','skipped'])[1 + i % 7],
    '', 0, NULL,
    '', 'pending', '', '{}'::jsonb,
    (i * 37 % 1000) / 10.0,
    'bench import', now() - interval '400 days', NULL, NULL, NULL, NULL, NULL, NULL,
    md5('token' || i) || md5('bench' || i),
    '',
    created, created
FROM generate_series(1, {rows}) AS i,
     -- Spread over the last year, not in id order, so the ordering index has work to do.
     LATERAL (SELECT now() - make_interval(secs => (i::bigint * 7919) % 31536000) AS created) AS t
"""


def load(rows: int) -> None:
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from crm.models import Lead, User

    started = time.perf_counter()
    with transaction.atomic():
        admin = User.objects.create(username=ADMIN_USERNAME, is_staff=True, email="admin@example.com")
        admin.groups.add(Group.objects.get(name="ADMIN"))
        reps = [User.objects.create(username=name, is_staff=True) for name in REP_USERNAMES]
        rep_group = Group.objects.get(name="REP")
        for rep in reps:
            rep.groups.add(rep_group)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            # No parameters (so '%' stays SQL's modulo): the values are our own integers.
            statement = LOAD_LEADS_SQL
            for name, value in {"rows": rows, "rep1": reps[0].pk, "rep2": reps[1].pk}.items():
                statement = statement.replace("{%s}" % name, str(int(value)))
            cursor.execute(statement)
    with connection.cursor() as cursor:
        # What autovacuum would have done on a table this size: statistics and a visibility map.
        cursor.execute("VACUUM ANALYZE crm_lead")
    print(f"Loaded {Lead.objects.count():,} leads in {time.perf_counter() - started:.1f} s.")


# --- measuring -----------------------------------------------------------------------------

CHANGELIST_URL = "/admin/crm/lead/"


def scenarios() -> list[tuple[str, str, str]]:
    """(name, username, URL) for every request pattern measured."""
    from crm.models import User

    rep1 = User.objects.get(username=REP_USERNAMES[0])
    return [
        ("admin: first page", ADMIN_USERNAME, CHANGELIST_URL),
        ("admin: page 2", ADMIN_USERNAME, CHANGELIST_URL + "?p=2"),
        ("admin: status=REPLIED", ADMIN_USERNAME, CHANGELIST_URL + "?status__exact=REPLIED"),
        ("admin: rep filter", ADMIN_USERNAME, CHANGELIST_URL + f"?assigned_rep__id__exact={rep1.pk}"),
        ("rep: first page", REP_USERNAMES[0], CHANGELIST_URL),
        ("rep: page 2", REP_USERNAMES[0], CHANGELIST_URL + "?p=2"),
        ("rep: status=REPLIED", REP_USERNAMES[0], CHANGELIST_URL + "?status__exact=REPLIED"),
    ]


def client_for(username: str):
    from django.test import Client

    from crm.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def check_response(name: str, username: str, response) -> None:
    """Fail loudly rather than time an error page or a wrongly scoped list."""
    if response.status_code != 200:
        sys.exit(f"{name}: HTTP {response.status_code}, expected 200")
    rows = response.content.count(b'name="_selected_action"')
    if rows == 0:
        sys.exit(f"{name}: the changelist shows no leads")
    if username == REP_USERNAMES[0] and REP_USERNAMES[1].encode() in response.content:
        sys.exit(f"{name}: a rep sees another rep's leads")


def measure(requests: int, warmup: int) -> tuple[list[dict], dict[str, list[str]]]:
    """Time every scenario; return per-scenario figures and one request's SQL per scenario."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results, sample_sql = [], {}
    clients = {}
    for name, username, url in scenarios():
        client = clients.setdefault(username, client_for(username))
        for _ in range(warmup):
            check_response(name, username, client.get(url))
        timings, query_counts = [], []
        for _ in range(requests):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                elapsed_ms = (time.perf_counter() - started) * 1000
            check_response(name, username, response)
            timings.append(elapsed_ms)
            query_counts.append(len(captured.captured_queries))
        sample_sql[name] = [q["sql"] for q in captured.captured_queries]
        results.append({"name": name, "timings": timings, "queries": max(query_counts)})
    return results, sample_sql


def print_table(results: list[dict]) -> None:
    print()
    print(f"{'scenario':<26} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}")
    for r in results:
        t = r["timings"]
        print(f"{r['name']:<26} {len(t):>4} {percentile(t, 50):>8.1f} {percentile(t, 95):>8.1f} "
              f"{max(t):>8.1f} {r['queries']:>8}")


def plan_summary(node: dict) -> list[str]:
    """Scan nodes of a plan, e.g. 'Index Only Scan lead_rep_created on crm_lead'."""
    found = []
    if "Scan" in node.get("Node Type", ""):
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" {node['Index Name']}"
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        found.append(label)
    for child in node.get("Plans", []):
        found.extend(plan_summary(child))
    return found


def explain(sample_sql: dict[str, list[str]]) -> None:
    """EXPLAIN ANALYZE the lead queries of one request per scenario; sum up the rest."""
    import json

    from django.db import connection

    print("\nEXPLAIN ANALYZE of one request per scenario (execution + planning ms, scans used):")
    for name, statements in sample_sql.items():
        lead_rows, other_ms, other_count, not_explained = [], 0.0, 0, 0
        with connection.cursor() as cursor:
            for statement in statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    not_explained += 1  # e.g. the paginator's own EXPLAIN for its estimate
                    continue
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")
                plan = cursor.fetchone()[0]
                plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
                if '"crm_lead"' not in statement.split(" WHERE ")[0].split(" ORDER BY ")[0]:
                    other_ms += plan["Execution Time"]
                    other_count += 1
                    continue
                scans = ", ".join(dict.fromkeys(plan_summary(plan["Plan"])))
                lead_rows.append((plan["Execution Time"], plan["Planning Time"], scans,
                                  " ".join(statement.split())))
        print(f"  {name}")
        for exec_ms, plan_ms, scans, statement in lead_rows:
            print(f"    {exec_ms:6.2f} + {plan_ms:5.2f}  {scans}\n                    {statement[:110]}...")
        print(f"    {other_ms:6.2f}          {other_count} other queries (session, user, roles, "
              f"permissions, filter choices); {not_explained} not explained")


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    # Time what production runs: no DEBUG template and SQL bookkeeping unless asked for.
    os.environ.setdefault("DJANGO_DEBUG", "false")

    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    must_load = prepare_database(maintenance_url, bench_url, args.db_name, args.rows, args.fresh)
    # Re-point the settings at the bench database before Django reads them.
    os.environ["DATABASE_URL"] = bench_url

    import django
    from django.conf import settings

    # The benchmark never serves static files; WhiteNoise's "no STATIC_ROOT yet" is noise.
    warnings.filterwarnings("ignore", message="No directory at")
    from django.core.management import call_command

    django.setup()
    db = settings.DATABASES["default"]
    print(f"Settings {os.environ['DJANGO_SETTINGS_MODULE']}, DEBUG={settings.DEBUG}, "
          f"database {db['NAME']!r} on {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}.")
    call_command("migrate", verbosity=0, interactive=False)
    if must_load:
        load(args.rows)

    results, sample_sql = measure(args.requests, args.warmup)
    print_table(results)
    if not args.no_explain:
        explain(sample_sql)

    all_timings = [t for r in results for t in r["timings"]]
    p50, p95 = percentile(all_timings, 50), percentile(all_timings, 95)
    queries = max(r["queries"] for r in results)
    met = p50 <= GOAL_P50_MS and queries <= GOAL_QUERIES
    print(f"\nGoal p50 <= {GOAL_P50_MS} ms and queries <= {GOAL_QUERIES}: {'met' if met else 'NOT met'}.")

    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"changelist: p50={p50:.1f} p95={p95:.1f} queries={queries}")


if __name__ == "__main__":
    main()
