"""Benchmark the lead changelist (/admin/crm/lead/) on PostgreSQL with many leads, against a
stock Unfold list of the same leads measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/changelist.py --rows 1000000

DATABASE_URL only says which server to use: the benchmark creates its own database
(`crm_bench` by default) beside the one named there, migrates it, loads --rows leads with
one INSERT ... SELECT FROM generate_series, and keeps it for the next run (reused while
it holds exactly --rows leads; --fresh rebuilds it, --drop removes it at the end).

The reference: a stock Unfold ModelAdmin over the same table (five columns, Django's default
paginator, no filters), registered on an AdminSite and URLconf the benchmark makes (the
product's URLs are untouched), beside every other model of the product's site, so the two
pages differ only by the lead ModelAdmin. It then requests, in-process with django.test.Client, as an
ADMIN-group user and as a REP, round robin (one request of each per round, so other work on
the machine falls on all alike), the stock list's first page and our list's first page, page 2,
a status filter, the admin's rep filter, a search by name, a search by phone (as typed:
"(512) 275-0000") and a sort by engagement score; each page must show what it should (the
lead searched for, the top score, no other rep's lead) or the run fails. It times each
request, counts its queries, EXPLAIN ANALYZEs the queries of one request per scenario, and
ends with one line, for our slowest scenario (its p50 over the stock list's for the same
viewer):

    changelist: p50=<ms> p95=<ms> queries=<max queries per request> stock_p50=<ms> ratio=<r>

Goal (issue 10): every scenario's p50 <= 0.5 x the stock list's, and queries <= 10, at
1,000,000 rows. `--smoke` (CI): 2,000 rows, 3 requests per scenario.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
MAX_ROWS = 7_999_999  # phones are '+1512' plus 2000000 + i
GOAL_RATIO = 0.5  # our p50 over the stock Unfold list's, for every scenario
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
    parser.add_argument("--smoke", action="store_true", help="CI size: 2,000 rows, 3 requests per scenario")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.requests, args.warmup = 2_000, 3, 1
    if not 1 <= args.rows <= MAX_ROWS:
        parser.error(f"--rows must be between 1 and {MAX_ROWS:,}")
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be >= 1 and --warmup >= 0")
    return args


from benchdb import drop_database, insert_select, percentile, prepare_database, server_urls  # noqa: E402


# --- loading (Django is set up from here on) ----------------------------------------------

PREFIXES = ['Sunrise', 'Maple', 'Blue Sky', 'Golden', 'Riverside', 'Summit', 'Oak Street', 'Harbor', 'Evergreen',
            'Main Street']
KINDS = ['Plumbing', 'Bakery', 'Dental', 'Auto Repair', 'Salon', 'Landscaping', 'Roofing', 'Cafe', 'Pet Grooming',
         'Fitness']


def sql_array(values) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def business_name(i: int) -> str:
    """Lead i's name, as LEAD_COLUMNS writes it."""
    return f"{PREFIXES[i % 10]} {KINDS[(i // 10) % 10]} {i}"


def phone(i: int) -> str:
    """Lead i's phone, as LEAD_COLUMNS writes it: valid Austin numbers (512, exchanges 200-999)."""
    return f"+1512{2000000 + i}"


# Columns the loader fills (the rest get their model defaults, see benchdb.insert_select).
LEAD_COLUMNS = {
    "business_name": f"({sql_array(PREFIXES)})[1 + i % 10] || ' ' || ({sql_array(KINDS)})[1 + (i / 10) % 10] || ' ' || i",
    "contact_first_name": "(ARRAY['James','Maria','Robert','Linda','Michael','Sarah','David','Karen'])[1 + i % 8]",
    "contact_last_name": "(ARRAY['Smith','Garcia','Johnson','Brown','Lee','Miller','Davis','Wilson'])[1 + (i / 8) % 8]",
    "phone": "'+1512' || (2000000 + i)::text",
    "email": "CASE WHEN i % 3 = 0 THEN '' ELSE 'owner' || i || '@example.com' END",
    "website": "CASE WHEN i % 4 = 0 THEN '' ELSE 'https://business' || i || '.example.com' END",
    "address": "(100 + i % 9900) || ' Main St'",
    "city": "(ARRAY['Austin','Denver','Tampa','Portland','Columbus','Phoenix','Raleigh','Boise'])[1 + i % 8]",
    "state": "(ARRAY['TX','CO','FL','OR','OH','AZ','NC','ID'])[1 + i % 8]",
    "postcode": "lpad((10000 + i % 89999)::text, 5, '0')",
    "country": "'US'",
    "category": "(ARRAY['plumber','bakery','dentist','mechanic','salon','landscaper','roofer','cafe'])[1 + (i / 10) % 8]",
    # Status and priority skewed like a real pipeline: most leads new or contacted.
    "status": "(ARRAY['NEW','NEW','NEW','NEW','NEW','NEW','NEW','NEW','CONTACTED','CONTACTED','CONTACTED',"
              "'CONTACTED','CONTACTED','ENGAGED','ENGAGED','REPLIED','REPLIED','NEGOTIATING','PAID','LOST'])"
              "[1 + (i * 7) % 20]",
    "priority": "(ARRAY['NORMAL','NORMAL','NORMAL','NORMAL','NORMAL','NORMAL','NORMAL','WARM','WARM','HOT'])"
                "[1 + (i * 3) % 10]",
    # 40% rep 1, 40% rep 2, 20% unassigned.
    "assigned_rep_id": "CASE WHEN i % 5 IN (0, 1) THEN {rep1} WHEN i % 5 IN (2, 3) THEN {rep2} END",
    "latitude": "CASE WHEN i % 2 = 0 THEN round((25 + (i % 2300) / 100.0)::numeric, 6) END",
    "longitude": "CASE WHEN i % 2 = 0 THEN round((-70 - (i % 5000) / 100.0)::numeric, 6) END",
    "enrichment_status": "(ARRAY['pending','done','done','done','not_found','failed','skipped'])[1 + i % 7]",
    "engagement_score": "(i * 37 % 1000) / 10.0",
    "consent_source": "'bench import'",
    "consent_at": "now() - interval '400 days'",
    "preview_token": "md5('token' || i) || md5('bench' || i)",
    "created_at": "created",
    "updated_at": "created",
}
LEAD_SOURCE = """FROM generate_series(1, {rows}) AS i,
     -- Spread over the last year, not in id order, so the ordering index has work to do.
     LATERAL (SELECT now() - make_interval(secs => (i::bigint * 7919) % 31536000) AS created) AS t"""


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
            statement = insert_select(Lead, LEAD_COLUMNS, LEAD_SOURCE)
            for name, value in {"rows": rows, "rep1": reps[0].pk, "rep2": reps[1].pk}.items():
                statement = statement.replace("{%s}" % name, str(int(value)))
            cursor.execute(statement)
    with connection.cursor() as cursor:
        # What autovacuum would have done on a table this size: statistics and a visibility map.
        cursor.execute("VACUUM ANALYZE crm_lead")
    print(f"Loaded {Lead.objects.count():,} leads in {time.perf_counter() - started:.1f} s.")


# --- measuring -----------------------------------------------------------------------------

CHANGELIST_URL = "/admin/crm/lead/"
STOCK_URL = "/bench-stock-admin/crm/lead/"
STOCK = "stock"
ROW_MARKER = b'class="field-business_name'  # the first cell of each row, in both lists


def install_stock_admin() -> None:
    """The same-run reference: a stock Unfold ModelAdmin over the same leads (five columns, the
    default paginator, no filters), on an AdminSite and a URLconf of the benchmark's own, so the
    product's URLs are untouched (as bench/wsgi_bench.py adds /__hello__)."""
    import importlib
    import types

    from django.conf import settings
    from django.contrib import admin
    from django.urls import path
    from unfold.admin import ModelAdmin

    from crm.models import Lead

    class StockLeadAdmin(ModelAdmin):
        list_display = ["business_name", "phone", "city", "status", "created_at"]

    # The project's site class (Unfold's), holding every other model as the product's site does,
    # so the two pages differ only by the lead ModelAdmin (the sidebar and app list cost the same).
    site = type(admin.site)(name="bench_stock")
    for model, model_admin in admin.site._registry.items():
        if model is not Lead:
            site.register(model, type(model_admin))
    site.register(Lead, StockLeadAdmin)
    urls = types.ModuleType("bench_changelist_urls")
    urls.urlpatterns = [path("bench-stock-admin/", site.urls),
                        *importlib.import_module(settings.ROOT_URLCONF).urlpatterns]
    sys.modules[urls.__name__] = urls
    # Set before the first request; the resolver reads ROOT_URLCONF per request.
    settings.ROOT_URLCONF = urls.__name__


def typed_phone(i: int) -> str:
    """Lead i's phone as a person types it: (512) 275-0000."""
    digits = phone(i)[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def scenarios(rows: int) -> list[dict]:
    """Every request pattern measured: name, viewer, URL, and what the page must show."""
    from urllib.parse import urlencode

    from crm.models import Lead, User

    rep1 = User.objects.get(username=REP_USERNAMES[0])
    # A lead of rep 1 (i % 5 in (0, 1)) three quarters of the way in, to search for.
    target = rows * 3 // 4 // 5 * 5 or 5
    if target > rows:
        target = 1
    name = business_name(target)
    top = {user: Lead.objects.filter(**scope).order_by("-engagement_score", "-id").values_list("business_name", flat=True)[0]
           for user, scope in ((ADMIN_USERNAME, {}), (REP_USERNAMES[0], {"assigned_rep": rep1}))}
    by_name = CHANGELIST_URL + "?" + urlencode({"q": name})
    by_phone = CHANGELIST_URL + "?" + urlencode({"q": typed_phone(target)})
    by_score = CHANGELIST_URL + "?o=-7"  # the engagement score column, highest first
    found = [name.encode()]
    plans = [
        ("stock: first page", ADMIN_USERNAME, STOCK_URL, []),
        ("admin: first page", ADMIN_USERNAME, CHANGELIST_URL, []),
        ("admin: page 2", ADMIN_USERNAME, CHANGELIST_URL + "?p=2", []),
        ("admin: status=REPLIED", ADMIN_USERNAME, CHANGELIST_URL + "?status__exact=REPLIED", []),
        ("admin: rep filter", ADMIN_USERNAME, CHANGELIST_URL + f"?assigned_rep__id__exact={rep1.pk}", []),
        ("admin: search name", ADMIN_USERNAME, by_name, found),
        ("admin: search phone", ADMIN_USERNAME, by_phone, found),
        ("admin: sort by score", ADMIN_USERNAME, by_score, [top[ADMIN_USERNAME].encode()]),
        ("stock: first page (rep)", REP_USERNAMES[0], STOCK_URL, []),
        ("rep: first page", REP_USERNAMES[0], CHANGELIST_URL, []),
        ("rep: page 2", REP_USERNAMES[0], CHANGELIST_URL + "?p=2", []),
        ("rep: status=REPLIED", REP_USERNAMES[0], CHANGELIST_URL + "?status__exact=REPLIED", []),
        ("rep: search name", REP_USERNAMES[0], by_name, found),
        ("rep: search phone", REP_USERNAMES[0], by_phone, found),
        ("rep: sort by score", REP_USERNAMES[0], by_score, [top[REP_USERNAMES[0]].encode()]),
    ]
    return [{"name": n, "user": u, "url": url, "must_show": must, "stock": n.startswith(STOCK)}
            for n, u, url, must in plans]


def client_for(username: str):
    from django.test import Client

    from crm.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def check_response(scenario: dict, response) -> None:
    """Fail loudly rather than time an error page, an empty or wrong result, or a leak."""
    name = scenario["name"]
    if response.status_code != 200:
        sys.exit(f"{name}: HTTP {response.status_code}, expected 200")
    rows = response.content.count(ROW_MARKER)
    if rows == 0:
        sys.exit(f"{name}: the changelist shows no leads")
    for text in scenario["must_show"]:
        if text not in response.content:
            sys.exit(f"{name}: {text.decode()!r} is not on the page")
    if scenario["user"] == REP_USERNAMES[0] and not scenario["stock"] and REP_USERNAMES[1].encode() in response.content:
        sys.exit(f"{name}: a rep sees another rep's leads")


def check_rep_scoping(rows: int) -> None:
    """A rep's search never finds another rep's lead (checked once, untimed)."""
    from urllib.parse import urlencode

    other = 2 if rows >= 2 else None  # i % 5 in (2, 3): rep 2's
    if other is None:
        return
    response = client_for(REP_USERNAMES[0]).get(CHANGELIST_URL + "?" + urlencode({"q": business_name(other)}))
    if response.status_code != 200 or response.content.count(ROW_MARKER):
        sys.exit("rep: a search by another rep's lead's name shows it (or fails)")


def measure(requests: int, warmup: int, rows: int) -> tuple[list[dict], dict[str, list[str]]]:
    """Time every scenario, round robin (one request of each per round), so a burst of other
    work on the machine falls on ours and the stock list alike; return per-scenario figures
    and one request's SQL per scenario."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    plans = scenarios(rows)
    clients = {}
    for scenario in plans:
        client = clients.setdefault(scenario["user"], client_for(scenario["user"]))
        for _ in range(warmup):
            check_response(scenario, client.get(scenario["url"]))
        scenario.update(timings=[], query_counts=[])
    sample_sql = {}
    for _ in range(requests):
        for scenario in plans:
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = clients[scenario["user"]].get(scenario["url"])
                elapsed_ms = (time.perf_counter() - started) * 1000
            check_response(scenario, response)
            scenario["timings"].append(elapsed_ms)
            scenario["query_counts"].append(len(captured.captured_queries))
            sample_sql[scenario["name"]] = [q["sql"] for q in captured.captured_queries]
    check_rep_scoping(rows)
    return [{**s, "queries": max(s["query_counts"])} for s in plans], sample_sql


def stock_p50(results: list[dict], user: str) -> float:
    return next(percentile(r["timings"], 50) for r in results if r["stock"] and r["user"] == user)


def print_table(results: list[dict]) -> None:
    print()
    print(f"{'scenario':<26} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8} {'/ stock p50':>12}")
    for r in results:
        t = r["timings"]
        ratio = "" if r["stock"] else f"{percentile(t, 50) / stock_p50(results, r['user']):12.2f}"
        print(f"{r['name']:<26} {len(t):>4} {percentile(t, 50):>8.1f} {percentile(t, 95):>8.1f} "
              f"{max(t):>8.1f} {r['queries']:>8} {ratio}")


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
    install_stock_admin()

    results, sample_sql = measure(args.requests, args.warmup, args.rows)
    print_table(results)
    if not args.no_explain:
        explain(sample_sql)

    ours = [r for r in results if not r["stock"]]
    worst = max(ours, key=lambda r: percentile(r["timings"], 50))
    p50, p95 = percentile(worst["timings"], 50), percentile(worst["timings"], 95)
    reference = stock_p50(results, worst["user"])
    queries = max(r["queries"] for r in ours)
    met = all(percentile(r["timings"], 50) <= GOAL_RATIO * stock_p50(results, r["user"]) for r in ours)
    met = met and queries <= GOAL_QUERIES
    print(f"\nWorst scenario: {worst['name']}. Goal: every scenario's p50 <= {GOAL_RATIO} x the stock list's "
          f"(same viewer), queries <= {GOAL_QUERIES}: {'met' if met else 'NOT met'}.")

    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"changelist: p50={p50:.1f} p95={p95:.1f} queries={queries} stock_p50={reference:.1f} "
          f"ratio={p50 / reference:.2f}")


if __name__ == "__main__":
    main()
