"""Benchmark the dashboard (/admin/) at 1,000,000 leads, 5,000,000 preview events, 1,000,000 texts
and 100,000 transactions: the admin's (the whole team, this month) and a rep's (their own), against
a stock Unfold changelist of a tiny table (the admin's fixed cost: session, sidebar, template),
measured in the same run, with the shared harness bench/adminload.py.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dashboard.py

DATABASE_URL only says which server to use: the benchmark creates its own database
(`crm_bench_dashboard` by default), migrates it, loads it with INSERT ... SELECT FROM
generate_series, and keeps it for the next run (reused while it holds exactly --rows leads;
--fresh rebuilds it, --drop removes it at the end).

What it loads: leads created over the last two years (lead i's rep: one of six reps, 1 in 10
nobody), statuses NEW 60%, CONTACTED 20%, ENGAGED 8%, REPLIED 5%, NEGOTIATING 1%, PAID 2%, LOST 4%;
every non-new lead contacted some time after it was created, 5% hot at some point (0.5% hot
now); --rows x 5 preview events (60% views) and --rows texts (sent, delivered, failed, replies)
over the last year, each on a lead; a client, a subscription and its "new" MRR movement for each
paid lead (3 in 10 canceled, with a churn movement); --rows / 10 transactions over the last year
on those clients (setup, subscription, upsell, refund); the team's targets for this month; then the
facts the rep's queue reads (waiting replies, callbacks) set by the services' backfill functions.

Then, as production does, the scheduled refresh (crm.services.rollups.rollups_refresh) counts the
leads, texts and preview views into their 15-minute slots, run after run until it has nothing
left to count (timed; VACUUM ANALYZE after it, as autovacuum would), and in-process with
django.test.Client, round robin: the admin's dashboard (this month), the admin's dashboard for
the last 90 and 30 days (shown, not the goal: the month's worst case, whatever the day of the
month the run falls on), a rep's dashboard, and the reference. Each response is checked (a 200,
the KPI cards, the admin's KPI "new leads" equal to a count made apart from the product's code
in raw SQL, nothing company-wide on the rep's) or the run fails; then every query of one request
of each dashboard is run under EXPLAIN ANALYZE (`--no-explain` skips it). Last line:

    dashboard: admin p50=<ms> rep p50=<ms> queries=<n> admin_90d_p50=<ms> rep_queries=<n> stock_p50=<ms> ratio=<admin / stock>

queries: the most the admin's page ran in one request (everything: session, user, sidebar,
dashboard, and the transaction's BEGIN and COMMIT). Goal (issue 13): admin p50 <= 300 ms, rep
p50 <= 150 ms, queries <= 15 at any size.
`--smoke` (CI): 5,000 leads (and 25,000 events, 5,000 texts, 500 transactions), 3 requests.
"""

import argparse
import json
import sys
import time

GOAL_ADMIN_MS, GOAL_REP_MS, GOAL_QUERIES = 300, 150, 15
ADMIN = "bench_founder"
REPS = tuple(f"bench_dash_rep{n}" for n in range(1, 7))
KPI_MARKER = b'data-kpi="new"'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="leads to load (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per scenario first")
    parser.add_argument("--db-name", default="crm_bench_dashboard", help="database the benchmark owns")
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the bench database")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE")
    parser.add_argument("--smoke", action="store_true", help="CI size: 5,000 leads, 3 requests per scenario")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.requests, args.warmup = 5_000, 3, 1
    if not 1_000 <= args.rows <= 7_999_999:
        parser.error("--rows must be between 1,000 and 7,999,999")
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be >= 1 and --warmup >= 0")
    return args


from adminload import finish, install_stock_admin, measure, p50, plan_summary, print_table, start_django  # noqa: E402
from benchdb import insert_select  # noqa: E402

# --- loading (Django is set up from here on) ----------------------------------------------

H_STATUS = "((i::bigint * 104729 + 7) % 100)"
H_HOT = "((i::bigint * 7919 + 3) % 1000)"
LEAD_COLUMNS = {
    "business_name": "'Dashboard business ' || i",
    "phone": "'+1737' || (2000000 + i)::text",
    "country": "'US'",
    "assigned_rep_id": "CASE WHEN i % 10 = 9 THEN NULL ELSE (ARRAY[{reps}])[1 + i % 6] END",
    "status": f"CASE WHEN {H_STATUS} < 60 THEN 'NEW' WHEN {H_STATUS} < 80 THEN 'CONTACTED' WHEN {H_STATUS} < 88 "
              f"THEN 'ENGAGED' WHEN {H_STATUS} < 93 THEN 'REPLIED' WHEN {H_STATUS} < 94 THEN 'NEGOTIATING' "
              f"WHEN {H_STATUS} < 96 THEN 'PAID' ELSE 'LOST' END",
    "priority": f"CASE WHEN {H_HOT} < 5 THEN 'HOT' WHEN {H_HOT} < 50 THEN 'WARM' ELSE 'NORMAL' END",
    "created_at": "now() - make_interval(mins => ((i::bigint * 613) % (730 * 1440))::int)",
    "updated_at": "now()",
    "preview_token": "md5('dash' || i) || md5('token' || i)",
}
# Filled from created_at once the leads are in (a contact and an alert after the lead arrived).
LEAD_UPDATE = (
    "UPDATE crm_lead SET last_contacted_at = created_at + make_interval(mins => (id % 20000)::int) "
    "WHERE status <> 'NEW'; "
    "UPDATE crm_lead SET last_contacted_at = now() WHERE last_contacted_at > now(); "
    "UPDATE crm_lead SET hot_at = LEAST(now(), created_at + make_interval(mins => (id % 30000)::int)) "
    "WHERE priority <> 'NORMAL'"
)
LEAD_SOURCE = "FROM generate_series(1, {rows}) AS i"
IDS = "(SELECT min(id) AS lo, max(id) - min(id) + 1 AS n FROM crm_lead) b"
EVENTS = ({"lead_id": "b.lo + (i::bigint * 7919) % b.n", "session_id": "'s' || (i / 3)",
           "kind": "CASE WHEN i % 10 < 6 THEN 'view' WHEN i % 10 < 9 THEN 'ping' ELSE 'cta_click' END",
           "created_at": "now() - make_interval(secs => ((i::bigint * 7) % (365 * 86400))::int)"},
          "FROM generate_series(1, {events}) AS i, " + IDS)
TEXTS = ({"lead_id": "b.lo + (i::bigint * 104729) % b.n", "direction": "CASE WHEN i % 10 = 9 THEN 'in' ELSE 'out' END",
          "body": "'Hi, we made you a website preview'",
          "status": "CASE WHEN i % 10 = 9 THEN 'received' WHEN i % 10 < 5 THEN 'delivered' WHEN i % 10 < 8 "
                    "THEN 'sent' ELSE 'failed' END",
          "created_at": "now() - make_interval(secs => ((i::bigint * 31) % (365 * 86400))::int)"},
         "FROM generate_series(1, {texts}) AS i, " + IDS)
CLIENTS = ({"lead_id": "l.id", "name": "l.business_name", "rep_id": "l.assigned_rep_id",
            "status": "CASE WHEN l.id % 10 < 3 THEN 'churned' ELSE 'active' END",
            "created_at": "now() - make_interval(days => (l.id % 365)::int)"}, "FROM crm_lead l WHERE l.status = 'PAID'")
SUBSCRIPTIONS = ({"client_id": "c.id", "amount_cents": "9900", "quantity": "1", "interval": "'month'",
                  "status": "CASE WHEN c.status = 'churned' THEN 'canceled' ELSE 'active' END",
                  "started_at": "c.created_at",
                  "canceled_at": "CASE WHEN c.status = 'churned' THEN LEAST(now(), c.created_at + interval '40 days') END",
                  "stripe_subscription_id": "'sub_dash_' || c.id"}, "FROM crm_client c")
MOVEMENTS = [
    ({"client_id": "s.client_id", "subscription_id": "s.id", "kind": "'new'", "delta_cents": "9900",
      "mrr_after_cents": "9900", "occurred_at": "s.started_at", "source": "'bench:new'"}, "FROM crm_subscription s"),
    ({"client_id": "s.client_id", "subscription_id": "s.id", "kind": "'churn'", "delta_cents": "-9900",
      "mrr_after_cents": "0", "occurred_at": "s.canceled_at", "source": "'bench:churn'"},
     "FROM crm_subscription s WHERE s.canceled_at IS NOT NULL"),
]
TRANSACTIONS = ({"client_id": "c.lo + (i::bigint * 7919) % c.n",
                 "kind": "(ARRAY['setup','subscription','subscription','subscription','upsell','refund'])[1 + i % 6]",
                 "amount_cents": "CASE WHEN i % 6 = 5 THEN -9900 WHEN i % 6 = 0 THEN 49900 ELSE 9900 END",
                 "status": "CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'succeeded' END",
                 "provider_id": "'pi_dash_' || i",
                 "occurred_at": "now() - make_interval(secs => ((i::bigint * 613) % (365 * 86400))::int)"},
                "FROM generate_series(1, {transactions}) AS i, "
                "(SELECT min(id) AS lo, max(id) - min(id) + 1 AS n FROM crm_client) c")


def _users() -> list[int]:
    from django.contrib.auth.models import Group

    from crm.models import RepProfile, User

    admin = User.objects.create(username=ADMIN, is_staff=True, is_superuser=True)
    admin.groups.add(Group.objects.get(name="ADMIN"))
    rep_group, ids = Group.objects.get(name="REP"), []
    for name in REPS:
        user = User.objects.create(username=name, is_staff=True, first_name=name[-4:].title())
        user.groups.add(rep_group)
        RepProfile.objects.create(user=user)
        ids.append(user.pk)
    return ids


def load(rows: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import Client, Lead, Message, MrrChange, PreviewEvent, Subscription, Target, Transaction

    started = time.perf_counter()
    sizes = {"rows": rows, "events": rows * 5, "texts": rows, "transactions": rows // 10}
    with transaction.atomic():
        reps = _users()
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute(insert_select(Lead, LEAD_COLUMNS, LEAD_SOURCE).replace("{reps}", ",".join(map(str, reps)))
                           .replace("{rows}", str(rows)))
            for statement in LEAD_UPDATE.split("; "):
                cursor.execute(statement)
            for model, (columns, source) in ((PreviewEvent, EVENTS), (Message, TEXTS), (Client, CLIENTS),
                                             (Subscription, SUBSCRIPTIONS), (MrrChange, MOVEMENTS[0]),
                                             (MrrChange, MOVEMENTS[1]), (Transaction, TRANSACTIONS)):
                statement = insert_select(model, columns, source)
                for name, value in sizes.items():
                    statement = statement.replace("{%s}" % name, str(value))
                cursor.execute(statement)  # no parameters, so '%' stays SQL's modulo
        month = timezone.localdate().replace(day=1)
        for metric, goal in (("leads", rows // 20), ("contacted", rows // 40), ("mrr", 5_000_000),
                             ("revenue", 2_000_000), ("new_clients", 300)):
            Target.objects.create(metric=metric, period="month", period_start=month, goal=goal)
    # The facts the rep's queue reads, kept by services as texts and calls come in, set from the
    # loaded rows by the same functions (as migration 0018 and bench/rep_queue.py do).
    from crm.services.next_actions import next_action_callback_backfill
    from crm.services.reply_waiting import reply_waiting_backfill

    print(f"Replies waiting: {reply_waiting_backfill():,}; callbacks due: {next_action_callback_backfill():,}.")
    with connection.cursor() as cursor:
        for table in ("crm_lead", "crm_previewevent", "crm_message", "crm_client", "crm_subscription",
                      "crm_mrrchange", "crm_transaction"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    counts = {m.__name__: m.objects.count() for m in (Lead, PreviewEvent, Message, Client, Transaction)}
    print(f"Loaded {counts} in {time.perf_counter() - started:.1f} s.")


# --- the production refresh ------------------------------------------------------------------

def refresh() -> None:
    """What the scheduled task does every minute: after a load, runs until every row is
    counted (a run counts a chunk of ids per source)."""
    from django.db import connection

    from crm.models import RollupSource
    from crm.services.rollups import rollups_refresh

    started, runs, rebuilt = time.perf_counter(), 0, False
    while True:
        outcome = rollups_refresh()
        runs += 1
        rebuilt |= any(value != "unchanged" for value in outcome.values())
        if set(outcome.values()) == {"unchanged"}:
            break
    print(f"Refresh: {runs} runs in {time.perf_counter() - started:.1f} s.")
    if rebuilt:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE crm_activitycount")
    missing = [s.name for s in RollupSource.objects.all() if not s.watermark or s.dirty]
    if missing:
        sys.exit(f"the refresh left {missing} uncounted: the dashboard would count every row live")


# --- measuring -----------------------------------------------------------------------------

def new_leads_this_month() -> int:
    """The admin's "New leads" KPI, counted apart from the product's code (raw SQL, the viewer's zone)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_lead WHERE created_at >= date_trunc('month', now() AT TIME ZONE "
                       "'America/New_York') AT TIME ZONE 'America/New_York'")
        return cursor.fetchone()[0]


def check(plan: dict, response) -> None:
    name = plan["name"]
    if response.status_code != 200:
        sys.exit(f"{name}: HTTP {response.status_code}, expected 200")
    if plan["stock"]:
        return
    if KPI_MARKER not in response.content:
        sys.exit(f"{name}: no KPI cards")
    if plan["user"] != ADMIN and (b'id="kpi-mrr"' in response.content or b'id="rep-table"' in response.content):
        sys.exit(f"{name}: a company-wide number on a rep's dashboard")
    if plan["expected_new"] is not None:
        shown = response.content.split(KPI_MARKER, 1)[1].split(b'class="kpi-value">', 1)[1].split(b"<", 1)[0]
        if int(shown.replace(b",", b"")) != plan["expected_new"]:
            sys.exit(f"{name}: new leads {shown!r}, counted {plan['expected_new']}")


def scenarios(stock_url: str) -> list[dict]:
    expected = new_leads_this_month()
    plans = [("admin dashboard (this month)", ADMIN, "/admin/", expected),
             ("admin dashboard (90 days)", ADMIN, "/admin/?range=90d", None),
             ("admin dashboard (30 days)", ADMIN, "/admin/?range=30d", None),
             ("rep dashboard", REPS[0], "/admin/", None),
             ("stock changelist", ADMIN, stock_url, None)]
    return [{"name": n, "user": u, "url": url, "expected_new": e, "stock": url == stock_url} for n, u, url, e in plans]


def explain(plans: list[dict]) -> None:
    """EXPLAIN ANALYZE every statement of one request per dashboard (with the JIT off, as the
    dashboard's transaction has them): execution + planning ms and the scans each used."""
    from django.db import connection

    print("\nEXPLAIN ANALYZE of one request per dashboard, every statement (execution + planning ms, scans):")
    with connection.cursor() as cursor:
        cursor.execute("SET jit = off")
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        for plan in plans:
            print(f"  {plan['name']}")
            for statement in plan.get("sql", []):
                if not statement.lstrip("( ").upper().startswith("SELECT"):
                    continue  # BEGIN, COMMIT, savepoints
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")
                result = cursor.fetchone()[0]
                result = (json.loads(result) if isinstance(result, str) else result)[0]
                scans = ", ".join(dict.fromkeys(plan_summary(result["Plan"])))
                print(f"    {result['Execution Time']:7.2f} + {result['Planning Time']:5.2f}  {scans[:300]}")
        cursor.execute("RESET jit")
        cursor.execute("RESET max_parallel_workers_per_gather")


def main() -> None:
    args = parse_args()
    maintenance_url, must_load = start_django(args.db_name, args.rows, args.fresh)
    if must_load:
        load(args.rows)
    refresh()
    from crm.models import Target

    stock_url = install_stock_admin(Target, ["metric", "period", "period_start", "goal"])
    results = measure(scenarios(stock_url), args.requests, args.warmup, check)
    admin, admin_90d, _, rep, stock = results
    print_table(results, ratio_to=lambda plan: stock)
    if not args.no_explain:
        explain([admin, rep])
    met = p50(admin) <= GOAL_ADMIN_MS and p50(rep) <= GOAL_REP_MS and admin["queries"] <= GOAL_QUERIES
    print(f"\nGoal admin p50 <= {GOAL_ADMIN_MS} ms, rep p50 <= {GOAL_REP_MS} ms, queries <= {GOAL_QUERIES}: "
          f"{'met' if met else 'NOT met'}.")
    finish(maintenance_url, args.db_name, args.drop)
    print(f"dashboard: admin p50={p50(admin):.1f} rep p50={p50(rep):.1f} queries={admin['queries']} "
          f"admin_90d_p50={p50(admin_90d):.1f} rep_queries={rep['queries']} stock_p50={p50(stock):.1f} "
          f"ratio={p50(admin) / p50(stock):.2f}")


if __name__ == "__main__":
    main()
