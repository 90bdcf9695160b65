"""Benchmark the admin's Revenue page (/admin/revenue/) on PostgreSQL at 10,000 clients and
200,000 transactions, against a stock Unfold list of the same transactions measured in the same
run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/revenue.py

DATABASE_URL only says which server to use: the benchmark creates its own database
(`crm_bench_revenue` by default), migrates it and loads, each with one INSERT ... SELECT FROM
generate_series: 3 leads per client (the clients' own, PAID, and an open pipeline), the clients
(8% churned), one subscription each (20% on the dearer plan, 3% past due, 2% cancelling), their
MRR movements (new, expansion for the dearer plan, churn), the transactions (one setup fee per
client, the rest monthly payments, upsells, refunds and a few failed), a text per client lead and
preview views, so every churn-risk rule has rows to read. The database is kept for the next run
(reused while it holds exactly these counts; --fresh rebuilds it, --drop removes it at the end).

It then requests, in-process with django.test.Client as an ADMIN-group user, round robin (one of
each per round, so other work on the machine falls on both alike; bench/adminload.py), the
Revenue page and the reference: a stock Unfold ModelAdmin's first page of the same 200,000
transactions (five columns, Django's paginator) on an AdminSite and URLconf of the benchmark's
own. Each Revenue page must answer 200 and show the MRR the subscriptions add up to, its four
charts, the movement, projection, churn-risk and upsell tables, or the run fails (exit 1). It
prints p50/p95/max and queries per page, the Revenue page's queries under EXPLAIN ANALYZE
(--no-explain skips it), and last:

    revenue: p50=<ms> queries=<n> reference_p50=<ms> ratio=<r>

Goal (issue 11): p50 <= 300 ms at 10,000 clients and 200,000 transactions.
`--smoke` (CI): 200 clients, 4,000 transactions, 3 requests.
"""

import argparse
import sys
import time

GOAL_P50_MS = 300
ADMIN_USERNAME = "bench_admin"
REP_USERNAMES = ("bench_rep1", "bench_rep2")
REVENUE_URL = "/admin/revenue/"
LEADS_PER_CLIENT = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000, help="clients to load (default 10,000)")
    parser.add_argument("--transactions", type=int, default=200_000, help="transactions (default 200,000)")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--db-name", default="crm_bench_revenue", help="database the benchmark owns")
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the bench database")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--no-explain", action="store_true", help="skip EXPLAIN ANALYZE")
    parser.add_argument("--smoke", action="store_true", help="CI size: 200 clients, 4,000 transactions, 3 requests")
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.transactions, args.requests, args.warmup = 200, 4_000, 3, 1
    if args.clients < 10 or args.transactions < args.clients:
        parser.error("--clients must be >= 10 and --transactions >= --clients (one setup fee each)")
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be >= 1 and --warmup >= 0")
    return args


from adminload import explain, finish, install_stock_admin, measure, p50, print_table, rebuild, start_django  # noqa: E402
from benchdb import insert_select, percentile  # noqa: E402

# --- loading (Django is set up from here on) ----------------------------------------------

LEAD_COLUMNS = {
    "business_name": "'Bench Business ' || i",
    "phone": "'+1512' || (2000000 + i)::text",
    "city": "'Austin'",
    "state": "'TX'",
    "country": "'US'",
    # Leads 1..clients paid (the clients'); the rest are a pipeline in every status.
    "status": "CASE WHEN i <= {clients} THEN 'PAID' ELSE (ARRAY['NEW','CONTACTED','ENGAGED','REPLIED',"
              "'NEGOTIATING','LOST'])[1 + i % 6] END",
    "assigned_rep_id": "CASE WHEN i % 2 = 0 THEN {rep1} ELSE {rep2} END",
    "preview_token": "md5('token' || i) || md5('bench' || i)",
    "last_contacted_at": "now() - make_interval(days => ((i % 60))::int)",
    "created_at": "now() - make_interval(days => ((i * 7 % 700))::int)",
    "updated_at": "now()",
}
LEAD_SOURCE = "FROM generate_series(1, {leads}) AS i"

# Client i is lead i's; it started (i * 13 % 700) days ago, at least a day ago.
CLIENT_COLUMNS = {
    "lead_id": "l.id",
    "name": "l.business_name",
    "rep_id": "l.assigned_rep_id",
    "stripe_customer_id": "'cus_bench_' || l.id",
    "status": "CASE WHEN l.id % 12 = 0 THEN 'churned' ELSE 'active' END",
    "created_at": "now() - make_interval(days => (1 + (l.id * 13 % 700))::int)",
}
CLIENT_SOURCE = "FROM crm_lead l WHERE l.status = 'PAID' ORDER BY l.id"

SUBSCRIPTION_COLUMNS = {
    "client_id": "c.id",
    "plan_name": "CASE WHEN c.id % 5 = 0 THEN 'Hosting & care plus' ELSE 'Hosting & care' END",
    "amount_cents": "CASE WHEN c.id % 5 = 0 THEN 14900 ELSE 9900 END",
    "stripe_subscription_id": "'sub_bench_' || c.id",
    "status": "CASE WHEN c.status = 'churned' THEN 'canceled' WHEN c.id % 33 = 1 THEN 'past_due' ELSE 'active' END",
    "cancel_at_period_end": "c.status = 'active' AND c.id % 50 = 7",
    "started_at": "c.created_at",
    "canceled_at": "CASE WHEN c.status = 'churned' THEN c.created_at + (now() - c.created_at) / 2 END",
}
SUBSCRIPTION_SOURCE = "FROM crm_client c ORDER BY c.id"

# The dearer plan's clients started on the cheaper one and expanded 30 days in (when that is past).
MRR_NEW_COLUMNS = {
    "client_id": "s.client_id", "subscription_id": "s.id", "kind": "'new'",
    "delta_cents": "CASE WHEN s.amount_cents = 14900 AND s.started_at < now() - interval '30 days' "
                   "THEN 9900 ELSE s.amount_cents END",
    "mrr_after_cents": "CASE WHEN s.amount_cents = 14900 AND s.started_at < now() - interval '30 days' "
                       "THEN 9900 ELSE s.amount_cents END",
    "occurred_at": "s.started_at", "source": "'bench:new:' || s.id",
}
MRR_EXPANSION_COLUMNS = {
    "client_id": "s.client_id", "subscription_id": "s.id", "kind": "'expansion'", "delta_cents": "5000",
    "mrr_after_cents": "14900", "occurred_at": "s.started_at + interval '30 days'",
    "source": "'bench:expansion:' || s.id",
}
MRR_CHURN_COLUMNS = {
    "client_id": "s.client_id", "subscription_id": "s.id", "kind": "'churn'", "delta_cents": "-s.amount_cents",
    "mrr_after_cents": "0", "occurred_at": "s.canceled_at", "source": "'bench:churn:' || s.id",
}
SUBSCRIPTION_ROWS = "FROM crm_subscription s"

# Transaction t: the first one per client is its setup fee; the rest pay, upsell, refund or fail.
TRANSACTION_COLUMNS = {
    "client_id": "c.id",
    "subscription_id": "CASE WHEN t > {clients} THEN s.id END",
    "kind": "CASE WHEN t <= {clients} THEN 'setup' WHEN t % 100 = 3 THEN 'refund' WHEN t % 33 = 5 THEN 'upsell' "
            "ELSE 'subscription' END",
    "amount_cents": "CASE WHEN t <= {clients} THEN 49900 WHEN t % 100 = 3 THEN -5000 WHEN t % 33 = 5 THEN 19900 "
                    "ELSE s.amount_cents END",
    "status": "CASE WHEN t > {clients} AND t % 97 = 11 THEN 'failed' ELSE 'succeeded' END",
    "provider_id": "'bench_tx_' || t",
    "occurred_at": "CASE WHEN t <= {clients} THEN c.created_at "
                   "ELSE c.created_at + (now() - c.created_at) * ((t * 7919) % 1000) / 1000.0 END",
}
TRANSACTION_SOURCE = """FROM generate_series(1, {transactions}) AS t
JOIN crm_client c ON c.id = (SELECT min(id) FROM crm_client) + (t - 1) % {clients}
JOIN crm_subscription s ON s.client_id = c.id"""

MESSAGE_COLUMNS = {
    "lead_id": "c.lead_id", "direction": "CASE WHEN c.id % 4 = 0 THEN 'in' ELSE 'out' END",
    "body": "'Checking in on your website'", "status": "'delivered'",
    "provider_sid": "'SMbench' || c.id || '_' || k",
    "created_at": "now() - make_interval(days => ((c.id * k * 11 % 90))::int)",
}
MESSAGE_SOURCE = "FROM crm_client c, generate_series(1, 3) AS k"

PREVIEW_COLUMNS = {
    "lead_id": "c.lead_id", "session_id": "'s' || c.id || '_' || k", "kind": "'view'",
    "created_at": "now() - make_interval(days => ((c.id * k * 7 % 60))::int)",
}
PREVIEW_SOURCE = "FROM crm_client c, generate_series(1, 5) AS k"


def fill(statement: str, values: dict[str, int]) -> str:
    # No parameters (so '%' stays SQL's modulo): the values are our own integers.
    for name, value in values.items():
        statement = statement.replace("{%s}" % name, str(int(value)))
    return statement


def load(clients: int, transactions: int) -> None:
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from crm.models import Client, Lead, Message, MrrChange, PreviewEvent, Subscription, Transaction, User

    started = time.perf_counter()
    with transaction.atomic():
        admin = User.objects.create(username=ADMIN_USERNAME, is_staff=True, email="admin@example.com")
        admin.groups.add(Group.objects.get(name="ADMIN"))
        reps = [User.objects.create(username=name, is_staff=True) for name in REP_USERNAMES]
        for rep in reps:
            rep.groups.add(Group.objects.get(name="REP"))
        values = {"clients": clients, "leads": clients * LEADS_PER_CLIENT, "transactions": transactions,
                  "rep1": reps[0].pk, "rep2": reps[1].pk}
        steps = [
            (Lead, LEAD_COLUMNS, LEAD_SOURCE),
            (Client, CLIENT_COLUMNS, CLIENT_SOURCE),
            (Subscription, SUBSCRIPTION_COLUMNS, SUBSCRIPTION_SOURCE),
            (MrrChange, MRR_NEW_COLUMNS, SUBSCRIPTION_ROWS),
            (MrrChange, MRR_EXPANSION_COLUMNS,
             SUBSCRIPTION_ROWS + " WHERE s.amount_cents = 14900 AND s.started_at < now() - interval '30 days'"),
            (MrrChange, MRR_CHURN_COLUMNS, SUBSCRIPTION_ROWS + " WHERE s.status = 'canceled'"),
            (Transaction, TRANSACTION_COLUMNS, TRANSACTION_SOURCE),
            (Message, MESSAGE_COLUMNS, MESSAGE_SOURCE),
            (PreviewEvent, PREVIEW_COLUMNS, PREVIEW_SOURCE),
        ]
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            for model, columns, source in steps:
                cursor.execute(fill(insert_select(model, columns, source), values))
    with connection.cursor() as cursor:
        for table in ("crm_lead", "crm_client", "crm_subscription", "crm_mrrchange", "crm_transaction",
                      "crm_message", "crm_previewevent"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"Loaded {Client.objects.count():,} clients, {Transaction.objects.count():,} transactions, "
          f"{MrrChange.objects.count():,} MRR movements, {Lead.objects.count():,} leads in "
          f"{time.perf_counter() - started:.1f} s.")


def loaded_as_asked(clients: int, transactions: int) -> bool:
    from crm.models import Client, Transaction

    return Client.objects.count() == clients and Transaction.objects.count() == transactions


# --- measuring -----------------------------------------------------------------------------

def expected_mrr_text() -> bytes:
    """The MRR the page must show, added up here in plain SQL (every subscription not canceled)."""
    from django.db import connection

    from crm.models.base import format_cents

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(SUM(amount_cents * quantity), 0) FROM crm_subscription "
                       "WHERE status <> 'canceled' AND interval = 'month'")
        total = cursor.fetchone()[0]
    return f'data-kpi="MRR">{format_cents(total)}<'.encode()


def check_revenue_page(response, mrr_text: bytes) -> None:
    """Fail loudly rather than time an error page or a page without its numbers."""
    if response.status_code != 200:
        sys.exit(f"revenue: HTTP {response.status_code}, expected 200")
    body = response.content
    if mrr_text not in body:
        sys.exit(f"revenue: the page does not show the MRR the subscriptions add up to ({mrr_text.decode()})")
    if body.count(b'class="chart"') != 4:
        sys.exit("revenue: the page does not have its four charts")
    for section in (b'id="risk-table"', b'id="upsell-table"', b'id="movement-table"', b'id="projection-table"'):
        if section not in body:
            sys.exit(f"revenue: {section.decode()} is missing (no risky clients or no candidates?)")


def check_reference(response) -> None:
    if response.status_code != 200 or b"bench_tx_" not in response.content:
        sys.exit(f"reference: HTTP {response.status_code} or no transactions listed")


def main() -> None:
    args = parse_args()
    leads = args.clients * LEADS_PER_CLIENT
    maintenance_url, must_load = start_django(args.db_name, leads, args.fresh)
    if not must_load and not loaded_as_asked(args.clients, args.transactions):
        rebuild(maintenance_url, args.db_name, leads)
        must_load = True
    if must_load:
        load(args.clients, args.transactions)

    from crm.models import Transaction

    reference_url = install_stock_admin(Transaction, ["provider_id", "kind", "amount_cents", "status", "occurred_at"])
    mrr_text = expected_mrr_text()
    revenue = {"name": "revenue", "user": ADMIN_USERNAME, "url": REVENUE_URL}
    reference = {"name": "reference (stock list)", "user": ADMIN_USERNAME, "url": reference_url}

    def check(plan: dict, response) -> None:
        check_revenue_page(response, mrr_text) if plan is revenue else check_reference(response)

    measure([revenue, reference], args.requests, args.warmup, check)
    print_table([revenue, reference], ratio_to=lambda plan: reference)
    if not args.no_explain:
        for table in ("crm_transaction", "crm_client"):
            explain([revenue], table)
    ours, theirs = p50(revenue), p50(reference)
    print(f"\nGoal: p50 <= {GOAL_P50_MS} ms at 10,000 clients and 200,000 transactions "
          f"({args.clients:,} clients and {args.transactions:,} transactions here): "
          f"{'met' if ours <= GOAL_P50_MS else 'NOT met'} (p95 {percentile(revenue['timings'], 95):.0f} ms). "
          f"Reference: a stock Unfold list's first page of the same transactions.")
    finish(maintenance_url, args.db_name, args.drop)
    print(f"revenue: p50={ours:.0f} queries={revenue['queries']} reference_p50={theirs:.0f} ratio={ours / theirs:.2f}")


if __name__ == "__main__":
    main()
