"""Benchmark the rep's "My queue" page (/admin/queue/) at 1,000,000 leads, 100,000 of them the
rep's, against the stock Unfold lead changelist for the same rep, measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/rep_queue.py

DATABASE_URL only says which server to use: the benchmark creates its own database
(`crm_bench_queue` by default) beside the one named there, migrates it, loads it with INSERT ...
SELECT FROM generate_series, and keeps it for the next run (reused while it holds exactly --rows
leads; --fresh rebuilds it, --drop removes it at the end).

What it loads, spread over every rep alike (lead i's rep: 1 in 10 the measured rep `bench_rep1`,
1 in 10 nobody, the rest over four other reps; 1 in 10,000 a small rep `bench_rep_small`):
0.5% of leads HOT (alert in the last 48 h; half of them reached by a call or a text since),
4% WARM (hot earlier and cooled), 3% REPLIED (an inbound text in the last week, half of them
answered since), 25% CONTACTED / 5% ENGAGED (one outbound text each), 1% PAID (a client and its
setup payment), 4% LOST, 1% opted out; 2% with a next action due in the last 14 days (a call the
day before, a quarter of them logged "callback") and 2% with one in the next 14 days; every lead
an "imported" timeline event, every call a "call" event by its rep; the rep's targets for the
month. So the measured rep has about 500 hot leads, 1,500 replies waiting, 2,000 due leads.
After loading, the stored queue facts are filled as production fills them when the migration
that added them runs: the same backfill functions (crm.services.reply_waiting,
crm.services.next_actions), then VACUUM ANALYZE (again on every reuse: a migration since the
load may have rewritten rows).

Then, in-process with django.test.Client, round robin (one request of each per round): the
measured rep's queue page, its refresh endpoint (/admin/queue/rows/), the numbers fragment the page
fetches once after it shows (/admin/queue/numbers/), the small rep's queue page
(the query count must be the same at 100 and 100,000 leads), and the reference: the stock Unfold
changelist over the same leads for the same rep (five columns, Django's paginator, on an
AdminSite and URLconf of the benchmark's own), through bench/adminload.py like the other admin
benchmarks. Each response is checked (a 200, the rows, the newest awake hot lead on top, nothing
of another rep) or the run fails. Then the queries of one request per scenario under EXPLAIN
ANALYZE (`--no-explain` skips them). Last line:

    queue: p50=<ms> queries=<n> rows_p50=<ms> numbers_p50=<ms> stock_p50=<ms> ratio=<queue p50 / stock p50>

Goal (issue 12): p50 <= 150 ms and the same query count for the small and the big rep.
`--smoke` (CI): 5,000 leads, 3 requests per scenario.
"""

import argparse
import sys
import time

GOAL_P50_MS = 150
REP = "bench_rep1"
SMALL_REP = "bench_rep_small"
OTHER_REPS = ("bench_rep2", "bench_rep3", "bench_rep4", "bench_rep5")
QUEUE_URL = "/admin/queue/"
ROWS_URL = "/admin/queue/rows/"
NUMBERS_URL = "/admin/queue/numbers/"
STOCK_URL = "/bench-stock-admin/crm/lead/"
ROW_MARKER = b'class="queue-row'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="leads to load (default 1,000,000)")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per scenario first")
    parser.add_argument("--db-name", default="crm_bench_queue", help="database the benchmark owns")
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


from adminload import explain, finish, install_stock_admin, measure, p50, print_table, start_django  # noqa: E402
from benchdb import insert_select  # noqa: E402

# --- loading (Django is set up from here on) ----------------------------------------------

# Spread by i / 10, so that every rep (chosen by i % 10) gets every share.
H_PRIORITY = "(((i::bigint / 10) * 7919) % 1000)"
H_STATUS = "(((i::bigint / 10) * 104729 + 7) % 1000)"
H_NEXT = "(((i::bigint / 10) * 3571 + 3) % 1000)"
H_OPT = "(((i::bigint / 10) * 6007 + 11) % 100)"
LEAD_COLUMNS = {
    "business_name": "'Queue business ' || i",
    "contact_first_name": "(ARRAY['James','Maria','Robert','Linda'])[1 + i % 4]",
    "contact_last_name": "(ARRAY['Smith','Garcia','Johnson','Brown'])[1 + (i / 4) % 4]",
    "phone": "'+1512' || (2000000 + i)::text",
    "city": "(ARRAY['Austin','Denver','Tampa','Portland'])[1 + i % 4]",
    "state": "'TX'",
    "country": "'US'",
    "assigned_rep_id": "CASE WHEN i % 10000 = 1 THEN {small} WHEN i % 10 = 0 THEN {rep1} WHEN i % 10 = 9 THEN NULL "
                       "ELSE (ARRAY[{rep2},{rep3},{rep4},{rep5}])[1 + i % 4] END",
    "priority": f"CASE WHEN {H_PRIORITY} < 5 THEN 'HOT' WHEN {H_PRIORITY} < 45 THEN 'WARM' ELSE 'NORMAL' END",
    "hot_at": f"CASE WHEN {H_PRIORITY} < 5 THEN now() - make_interval(mins => (i * 31) % 2880) "
              f"WHEN {H_PRIORITY} < 45 THEN now() - make_interval(days => 2 + i % 58) END",
    "status": f"CASE WHEN {H_STATUS} < 30 THEN 'REPLIED' WHEN {H_STATUS} < 40 THEN 'PAID' WHEN {H_STATUS} < 80 "
              f"THEN 'LOST' WHEN {H_STATUS} < 330 THEN 'CONTACTED' WHEN {H_STATUS} < 380 THEN 'ENGAGED' ELSE 'NEW' END",
    "next_action_at": f"CASE WHEN {H_NEXT} < 20 THEN now() - make_interval(mins => 1 + (i * 13) % 20160) "
                      f"WHEN {H_NEXT} < 40 THEN now() + make_interval(mins => 1 + (i * 13) % 20160) END",
    "next_action": f"CASE WHEN {H_NEXT} < 40 THEN 'Call back about the quote' ELSE '' END",
    "opted_out_at": f"CASE WHEN {H_OPT} = 0 THEN now() - interval '30 days' END",
    "consent_source": "'bench import'",
    "preview_token": "md5('token' || i) || md5('queue' || i)",
    "created_at": "now() - make_interval(days => 60 + i % 300)",
    "updated_at": "now() - make_interval(days => 60 + i % 300)",
}
LEAD_SOURCE = "FROM generate_series(1, {rows}) AS i"
# Per-lead rows read from the leads just loaded (l.id's hash picks which ones).
MESSAGES = [
    # Every contacted, engaged or replied lead got a sequence text long ago.
    ({"lead_id": "l.id", "direction": "'out'", "body": "'Hi, we made you a website preview'", "status": "'delivered'",
      "to_number": "l.phone", "created_at": "now() - interval '20 days'"},
     "FROM crm_lead l WHERE l.status IN ('CONTACTED', 'ENGAGED', 'REPLIED')"),
    # Replies in the last week.
    ({"lead_id": "l.id", "direction": "'in'", "body": "'Sounds interesting, how much is it?'", "status": "'received'",
      "from_number": "l.phone", "created_at": "now() - make_interval(mins => (10 + (l.id * 17) % 10080)::int)"},
     "FROM crm_lead l WHERE l.status = 'REPLIED'"),
    # Half of them answered by the rep since.
    ({"lead_id": "l.id", "direction": "'out'", "body": "'It is $499 once, then $99 a month'", "status": "'delivered'",
      "to_number": "l.phone", "sent_by_id": "l.assigned_rep_id",
      "created_at": "now() - make_interval(mins => (10 + (l.id * 17) % 10080)::int) + interval '5 minutes'"},
     "FROM crm_lead l WHERE l.status = 'REPLIED' AND (l.id / 10) % 2 = 0"),
    # A quarter of the hot leads texted after the alert.
    ({"lead_id": "l.id", "direction": "'out'", "body": "'Saw you looking at the preview!'", "status": "'delivered'",
      "to_number": "l.phone", "sent_by_id": "l.assigned_rep_id",
      "created_at": "l.hot_at + make_interval(mins => (1 + l.id % 30)::int)"},
     "FROM crm_lead l WHERE l.hot_at IS NOT NULL AND (l.id / 10) % 4 = 0 "
     "AND l.hot_at + make_interval(mins => (1 + l.id % 30)::int) "
     "< now()"),
]
CALLS = [
    # The call before each next action; a quarter asked to be called back.
    ({"lead_id": "l.id", "rep_id": "l.assigned_rep_id", "status": "'completed'", "duration_seconds": "60",
      "outcome": "CASE WHEN (l.id / 10) % 4 = 0 THEN 'callback' ELSE 'voicemail' END",
      "created_at": "l.next_action_at - interval '1 day'"},
     "FROM crm_lead l WHERE l.next_action_at IS NOT NULL"),
    # A quarter of the hot leads called after the alert.
    ({"lead_id": "l.id", "rep_id": "l.assigned_rep_id", "status": "'completed'", "duration_seconds": "90",
      "outcome": "'connected'", "answered_at": "l.hot_at + interval '3 minutes'",
      "created_at": "l.hot_at + interval '3 minutes'"},
     "FROM crm_lead l WHERE l.hot_at IS NOT NULL AND (l.id / 10) % 4 = 1 AND l.hot_at + interval '3 minutes' < now()"),
]
TIMELINE = [
    ({"lead_id": "l.id", "kind": "'imported'", "data": "'{}'::jsonb", "created_at": "l.created_at"}, "FROM crm_lead l"),
    ({"lead_id": "c.lead_id", "kind": "'call'", "actor_id": "c.rep_id", "data": "'{}'::jsonb",
      "created_at": "c.created_at"}, "FROM crm_call c WHERE c.rep_id IS NOT NULL"),
]
CLIENTS = ({"lead_id": "l.id", "name": "l.business_name", "rep_id": "l.assigned_rep_id",
            "created_at": "now() - make_interval(days => (l.id % 60)::int)"}, "FROM crm_lead l WHERE l.status = 'PAID'")
TRANSACTIONS = ({"client_id": "c.id", "kind": "'setup'", "amount_cents": "49900", "occurred_at": "c.created_at"},
                "FROM crm_client c")


def _users() -> dict[str, int]:
    from django.contrib.auth.models import Group

    from crm.models import RepProfile, User

    rep_group = Group.objects.get(name="REP")
    ids = {}
    for name in (REP, SMALL_REP, *OTHER_REPS):
        user = User.objects.create(username=name, is_staff=True, first_name=name.split("_")[-1].title())
        user.groups.add(rep_group)
        RepProfile.objects.create(user=user)
        ids[name] = user.pk
    return ids


def vacuum() -> None:
    """VACUUM ANALYZE the loaded tables: after loading, and on a database reused, whose
    migrations since the load may have rewritten rows and added columns without statistics."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("crm_lead", "crm_message", "crm_call", "crm_timelineevent", "crm_client", "crm_transaction"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def load(rows: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from crm.models import Call, Client, Lead, Message, Target, TimelineEvent, Transaction
    from crm.services.next_actions import next_action_callback_backfill
    from crm.services.reply_waiting import reply_waiting_backfill

    started = time.perf_counter()
    with transaction.atomic():
        users = _users()
        values = {"rows": rows, "rep1": users[REP], "small": users[SMALL_REP],
                  **{f"rep{n}": users[name] for n, name in enumerate(OTHER_REPS, start=2)}}
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            statement = insert_select(Lead, LEAD_COLUMNS, LEAD_SOURCE)
            for name, value in values.items():
                statement = statement.replace("{%s}" % name, str(int(value)))
            cursor.execute(statement)  # no parameters, so '%' stays SQL's modulo
            for model, plans in ((Message, MESSAGES), (Call, CALLS), (TimelineEvent, TIMELINE),
                                 (Client, [CLIENTS]), (Transaction, [TRANSACTIONS])):
                for columns, source in plans:
                    cursor.execute(insert_select(model, columns, source))
        month = timezone.localdate().replace(day=1)
        for metric, goal in (("new_clients", 20), ("revenue", 1_000_000), ("replies", 300), ("leads", 500)):
            Target.objects.create(rep_id=users[REP], metric=metric, period="month", period_start=month, goal=goal)
    backfilled = time.perf_counter()
    with transaction.atomic():
        waiting = reply_waiting_backfill()
        callbacks = next_action_callback_backfill()
    print(f"Queue facts filled by the migration's backfill in {time.perf_counter() - backfilled:.1f} s: "
          f"{waiting:,} replies waiting, {callbacks:,} callbacks planned.")
    vacuum()
    counts = {m.__name__: m.objects.count() for m in (Lead, Message, Call, TimelineEvent, Client)}
    print(f"Loaded {counts} in {time.perf_counter() - started:.1f} s.")


# --- measuring -----------------------------------------------------------------------------

def expected_top(username: str) -> int | None:
    """The rep's newest hot lead that is awake, or snoozed before an alert nobody acted on since
    (the queue's first row), read apart from the selector."""
    from django.db.models import Exists, OuterRef, Q
    from django.utils import timezone

    from crm.models import Lead, TimelineEvent

    now = timezone.now()
    acted = Exists(TimelineEvent.objects.filter(lead=OuterRef("pk"), actor__isnull=False,
                                                created_at__gte=OuterRef("hot_at")))
    return (Lead.objects.filter(assigned_rep__username=username, priority="HOT", opted_out_at=None)
            .exclude(status__in=["PAID", "LOST"])
            .filter(Q(next_action_at=None) | Q(next_action_at__lte=now) | ~acted)
            .order_by("-hot_at", "-id").values_list("pk", flat=True).first())


def check(plan: dict, response) -> None:
    """Fail loudly rather than time an error page, an empty queue or a wrong first row."""
    name, top = plan["name"], plan["top"]
    if response.status_code != 200:
        sys.exit(f"{name}: HTTP {response.status_code}, expected 200")
    if plan["stock"]:
        if b'class="field-business_name' not in response.content:
            sys.exit(f"{name}: no leads on the page")
        return
    if name.startswith("numbers"):
        if b'data-number="calls"' not in response.content:
            sys.exit(f"{name}: no numbers")
        return
    if response.content.count(ROW_MARKER) == 0:
        sys.exit(f"{name}: the queue shows no rows")
    if top is not None:
        first = response.content.split(ROW_MARKER, 1)[1][:400]
        if f'data-lead-id="{top}"'.encode() not in first:
            sys.exit(f"{name}: the first row is not lead {top}, the newest hot lead")


def check_isolation(response, username: str) -> None:
    """Every row shown belongs to the rep (checked once, untimed)."""
    import re

    from crm.models import Lead

    ids = [int(x) for x in re.findall(rb'data-lead-id="(\d+)"', response.content)]
    if Lead.objects.filter(pk__in=ids).exclude(assigned_rep__username=username).exists():
        sys.exit(f"{username}: the queue shows another rep's lead")


def scenarios(stock_url: str) -> list[dict]:
    from crm.models import User

    rep_id = User.objects.get(username=REP).pk
    plans = [
        ("queue page (rep, 100k leads)", REP, QUEUE_URL),
        ("queue refresh (rep)", REP, f"{ROWS_URL}?rep={rep_id}"),
        ("numbers (rep, fetched once)", REP, f"{NUMBERS_URL}?rep={rep_id}"),
        ("queue page (small rep)", SMALL_REP, QUEUE_URL),
        ("stock changelist (rep)", REP, stock_url),
    ]
    return [{"name": name, "user": user, "url": url, "stock": url == stock_url,
             "top": None if url == stock_url else expected_top(user)} for name, user, url in plans]


def main() -> None:
    args = parse_args()
    maintenance_url, must_load = start_django(args.db_name, args.rows, args.fresh)
    if must_load:
        load(args.rows)
    else:
        started = time.perf_counter()
        vacuum()
        print(f"VACUUM ANALYZE of the reused database in {time.perf_counter() - started:.1f} s.")
    from crm.models import Lead

    # Scoped: the rep sees their own leads, as on the product's list.
    stock_url = install_stock_admin(Lead, ["business_name", "phone", "city", "status", "created_at"], scoped=True)
    print(f"{REP}: {Lead.objects.filter(assigned_rep__username=REP).count():,} leads; "
          f"{SMALL_REP}: {Lead.objects.filter(assigned_rep__username=SMALL_REP).count():,}.")
    results = measure(scenarios(stock_url), args.requests, args.warmup, check)
    for plan in results:
        if plan["name"].startswith("queue"):
            check_isolation(plan["last"], plan["user"])
    page, rows, numbers, small, stock = results
    print_table(results, ratio_to=lambda plan: None if plan["stock"] else stock)
    if not args.no_explain:
        explain([page, rows, small], "crm_lead")
        explain([numbers], "crm_message")
        explain([numbers], "crm_call")
    constant = page["queries"] == small["queries"]
    met = p50(page) <= GOAL_P50_MS and constant
    print(f"\nQueries: {page['queries']} for the rep's 100k leads, {small['queries']} for the small rep "
          f"({'constant' if constant else 'NOT constant'}). Goal p50 <= {GOAL_P50_MS} ms and constant queries: "
          f"{'met' if met else 'NOT met'}.")
    finish(maintenance_url, args.db_name, args.drop)
    print(f"queue: p50={p50(page):.1f} queries={page['queries']} rows_p50={p50(rows):.1f} "
          f"numbers_p50={p50(numbers):.1f} stock_p50={p50(stock):.1f} ratio={p50(page) / p50(stock):.2f}")
    if not constant:
        sys.exit(1)


if __name__ == "__main__":
    main()
