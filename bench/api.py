"""Benchmark the JSON API's lead list (GET /api/v1/leads) with a rep's token on PostgreSQL at
1,000,000 leads, 100,000 of them the rep's, against references measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/api.py

DATABASE_URL only says which server to use: the benchmark creates its own database
(`crm_bench_api`), migrates it, loads --rows leads with one INSERT ... SELECT FROM generate_series
(every 10th lead the measured rep's, the rest another rep's or nobody's) and keeps it for the next
run while it holds exactly --rows leads (--fresh rebuilds it, --drop removes it at the end).

In-process with django.test.Client, round robin (one request of each per round, so other work on
the machine falls on all alike): the API's first page of 50 (`/api/v1/leads?limit=50`) with the
rep's token, a page deep in the rep's leads (a cursor 90% of the way down), a status filter, and
two references: `/health/live` (the same middleware and URL routing, no database: the floor) and
the admin's lead list for the same rep, first page (`/admin/crm/lead/`, session login). Every API
page must hold 50 of the rep's leads and nobody else's or the run fails. Each scenario's wall
time, CPU time of this process (little changed by other work on the machine, unlike the wall
time) and SQL statements per request are printed. Last line:

    api: p50=<ms> req/s=<n> deep_p50=<ms> filter_p50=<ms> floor_p50=<ms> admin_p50=<ms> ratio=<p50/admin_p50> cpu=<ms> queries=<n>

(cpu: the first page's CPU ms per request; queries: its SQL statements per request, median.)

req/s: one client's requests per second on the first page (1000 / mean ms). Goal (issue 14):
p50 <= 50 ms for a 50-lead page. `--smoke` (CI): 2,000 leads, 3 requests.
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOAL_P50_MS = 50.0
PAGE = 50
REP, OTHER_REP, ADMIN = "bench_api_rep", "bench_api_other", "bench_api_admin"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="leads to load (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per scenario first")
    parser.add_argument("--db-name", default="crm_bench_api", help="database the benchmark owns")
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the bench database")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--smoke", action="store_true", help="CI size: 2,000 leads, 3 requests per scenario")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.requests, args.warmup = 2_000, 3, 1
    if not 1_000 <= args.rows <= 7_999_999:
        parser.error("--rows must be between 1,000 and 7,999,999")
    return args


from benchdb import drop_database, insert_select, percentile, prepare_database, server_urls  # noqa: E402

LEAD_COLUMNS = {
    "business_name": "(ARRAY['Sunrise','Maple','Golden','Harbor'])[1 + i % 4] || ' Plumbing ' || i",
    "phone": "'+1512' || (2000000 + i)::text",
    "email": "'owner' || i || '@example.com'",
    "city": "(ARRAY['Austin','Denver','Tampa','Portland'])[1 + i % 4]",
    "state": "(ARRAY['TX','CO','FL','OR'])[1 + i % 4]",
    "country": "'US'",
    "status": "(ARRAY['NEW','NEW','NEW','CONTACTED','CONTACTED','ENGAGED','REPLIED','LOST'])[1 + (i / 10) % 8]",
    "priority": "(ARRAY['NORMAL','NORMAL','WARM','HOT'])[1 + (i / 10) % 4]",
    # Every 10th lead the measured rep's (100,000 of 1,000,000); 60% another rep's; the rest nobody's.
    "assigned_rep_id": "CASE WHEN i % 10 = 0 THEN {rep} WHEN i % 10 < 7 THEN {other} END",
    "preview_token": "md5('token' || i) || md5('bench' || i)",
    "created_at": "now() - make_interval(secs => (i::bigint * 7919) % 31536000)",
    "updated_at": "now()",
}


def load(rows: int) -> None:
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from crm.models import Lead, User

    started = time.perf_counter()
    with transaction.atomic():
        admin = User.objects.create(username=ADMIN, is_staff=True)
        admin.groups.add(Group.objects.get(name="ADMIN"))
        reps = [User.objects.create(username=name, is_staff=True) for name in (REP, OTHER_REP)]
        for rep in reps:
            rep.groups.add(Group.objects.get(name="REP"))
        statement = insert_select(Lead, LEAD_COLUMNS, f"FROM generate_series(1, {int(rows)}) AS i")
        statement = statement.replace("{rep}", str(reps[0].pk)).replace("{other}", str(reps[1].pk))
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE crm_lead")
    print(f"Loaded {Lead.objects.count():,} leads in {time.perf_counter() - started:.1f} s.")


def scenarios(rep, raw_token: str) -> list[dict]:
    from django.test import Client

    from crm.api.pagination import created_cursor
    from crm.models import Lead

    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    admin_page = Client()
    admin_page.force_login(rep)
    own = Lead.objects.filter(assigned_rep=rep).order_by("-created_at", "-pk").values("id", "created_at")
    count = own.count()
    deep_cursor = created_cursor(own[max(0, min(int(count * 0.9), count - PAGE - 1))])
    return [
        {"name": "api first page", "client": api, "url": f"/api/v1/leads?limit={PAGE}", "api": True},
        {"name": "api deep page", "client": api, "url": f"/api/v1/leads?limit={PAGE}&cursor={deep_cursor}", "api": True},
        {"name": "api status filter", "client": api, "url": f"/api/v1/leads?limit={PAGE}&status=CONTACTED",
         "api": True},
        {"name": "floor /health/live", "client": Client(), "url": "/health/live", "api": False},
        {"name": "admin lead list", "client": admin_page, "url": "/admin/crm/lead/", "api": False},
    ]


def check(scenario: dict, response, rep_id: int) -> None:
    if response.status_code != 200:
        sys.exit(f"{scenario['name']}: HTTP {response.status_code}: {response.content[:300]!r}")
    if scenario["api"]:
        items = response.json()["items"]
        if len(items) != PAGE or any(item["assigned_rep_id"] != rep_id for item in items):
            sys.exit(f"{scenario['name']}: expected {PAGE} of the rep's leads and no one else's")


def measure(runs: list[dict], requests: int, warmup: int, rep_id: int) -> None:
    """Wall ms, CPU ms of this process (little changed by other work on the machine) and SQL
    statements, per request."""
    from django.db import connection

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    for scenario in runs:
        scenario["timings"], scenario["cpu"], scenario["queries"] = [], [], []
    with connection.execute_wrapper(count):
        for round_number in range(warmup + requests):
            for scenario in runs:
                statements[0] = 0
                started, cpu = time.perf_counter(), time.process_time()
                response = scenario["client"].get(scenario["url"])
                elapsed, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
                check(scenario, response, rep_id)
                if round_number >= warmup:
                    scenario["timings"].append(elapsed)
                    scenario["cpu"].append(cpu)
                    scenario["queries"].append(statements[0])


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ["API_RATE_PER_MINUTE"] = "1000000000"  # measure the list, not the limiter's refusals
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    must_load = prepare_database(maintenance_url, bench_url, args.db_name, args.rows, args.fresh)
    os.environ["DATABASE_URL"] = bench_url

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.core.management import call_command

    from crm.models import ApiToken, User
    from crm.services.api_tokens import api_token_create

    call_command("migrate", verbosity=0, interactive=False)
    if must_load:
        load(args.rows)
    rep = User.objects.get(username=REP)
    ApiToken.objects.filter(user=rep).delete()
    _, raw = api_token_create(user=rep, name="bench", actor=rep)
    runs = scenarios(rep, raw)
    measure(runs, args.requests, args.warmup, rep.pk)

    print(f"\n{'scenario':<22}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'CPU ms':>9}{'queries':>9}{'most':>6}")
    for scenario in runs:
        timings = scenario["timings"]
        print(f"{scenario['name']:<22}{percentile(timings, 50):>9.2f}{percentile(timings, 95):>9.2f}"
              f"{statistics.fmean(timings):>9.2f}{statistics.median(scenario['cpu']):>9.2f}"
              f"{statistics.median(scenario['queries']):>9.0f}{max(scenario['queries']):>6}")
    print("(CPU ms: this process's CPU time per request, median; queries: SQL statements per request, median, and "
          "the most in one: the token's last use is written once a minute)")
    first, deep, status, floor, admin_list = (percentile(s["timings"], 50) for s in runs)
    per_second = 1000 / statistics.fmean(runs[0]["timings"])
    worst = max(first, deep, status)
    print(f"\nGoal: p50 <= {GOAL_P50_MS:.0f} ms for a {PAGE}-lead page (every API scenario): "
          f"{'met' if worst <= GOAL_P50_MS else 'NOT met'} (worst {worst:.1f} ms).")
    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"api: p50={first:.1f} req/s={per_second:.0f} deep_p50={deep:.1f} filter_p50={status:.1f} "
          f"floor_p50={floor:.1f} admin_p50={admin_list:.1f} ratio={first / admin_list:.2f} "
          f"cpu={statistics.median(runs[0]['cpu']):.1f} queries={statistics.median(runs[0]['queries']):.0f}")


if __name__ == "__main__":
    main()
