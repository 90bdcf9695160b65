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
import sys
import time

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


from adminload import client_for, explain, finish, install_stock_admin, measure, p50, print_table, start_django  # noqa: E402
from benchdb import insert_select, percentile  # noqa: E402


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
STOCK = "stock"
ROW_MARKER = b'class="field-business_name'  # the first cell of each row, in both lists


def typed_phone(i: int) -> str:
    """Lead i's phone as a person types it: (512) 275-0000."""
    digits = phone(i)[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def scenarios(rows: int, stock_url: str) -> list[dict]:
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
        ("stock: first page", ADMIN_USERNAME, stock_url, []),
        ("admin: first page", ADMIN_USERNAME, CHANGELIST_URL, []),
        ("admin: page 2", ADMIN_USERNAME, CHANGELIST_URL + "?p=2", []),
        ("admin: status=REPLIED", ADMIN_USERNAME, CHANGELIST_URL + "?status__exact=REPLIED", []),
        ("admin: rep filter", ADMIN_USERNAME, CHANGELIST_URL + f"?assigned_rep__id__exact={rep1.pk}", []),
        ("admin: search name", ADMIN_USERNAME, by_name, found),
        ("admin: search phone", ADMIN_USERNAME, by_phone, found),
        ("admin: sort by score", ADMIN_USERNAME, by_score, [top[ADMIN_USERNAME].encode()]),
        ("stock: first page (rep)", REP_USERNAMES[0], stock_url, []),
        ("rep: first page", REP_USERNAMES[0], CHANGELIST_URL, []),
        ("rep: page 2", REP_USERNAMES[0], CHANGELIST_URL + "?p=2", []),
        ("rep: status=REPLIED", REP_USERNAMES[0], CHANGELIST_URL + "?status__exact=REPLIED", []),
        ("rep: search name", REP_USERNAMES[0], by_name, found),
        ("rep: search phone", REP_USERNAMES[0], by_phone, found),
        ("rep: sort by score", REP_USERNAMES[0], by_score, [top[REP_USERNAMES[0]].encode()]),
    ]
    return [{"name": n, "user": u, "url": url, "must_show": must, "stock": n.startswith(STOCK)}
            for n, u, url, must in plans]


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


def main() -> None:
    args = parse_args()
    maintenance_url, must_load = start_django(args.db_name, args.rows, args.fresh)
    if must_load:
        load(args.rows)
    from crm.models import Lead

    stock_url = install_stock_admin(Lead, ["business_name", "phone", "city", "status", "created_at"])
    results = measure(scenarios(args.rows, stock_url), args.requests, args.warmup, check_response)
    check_rep_scoping(args.rows)

    def stock_for(plan: dict) -> dict:
        return next(r for r in results if r["stock"] and r["user"] == plan["user"])

    print_table(results, ratio_to=stock_for)
    ours = [r for r in results if not r["stock"]]
    if not args.no_explain:
        explain(ours, "crm_lead")

    worst = max(ours, key=p50)
    p95 = percentile(worst["timings"], 95)
    reference = p50(stock_for(worst))
    queries = max(r["queries"] for r in ours)
    met = all(p50(r) <= GOAL_RATIO * p50(stock_for(r)) for r in ours) and queries <= GOAL_QUERIES
    print(f"\nWorst scenario: {worst['name']}. Goal: every scenario's p50 <= {GOAL_RATIO} x the stock list's "
          f"(same viewer), queries <= {GOAL_QUERIES}: {'met' if met else 'NOT met'}.")
    finish(maintenance_url, args.db_name, args.drop)
    print(f"changelist: p50={p50(worst):.1f} p95={p95:.1f} queries={queries} stock_p50={reference:.1f} "
          f"ratio={p50(worst) / reference:.2f}")


if __name__ == "__main__":
    main()
