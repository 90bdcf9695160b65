"""Benchmark the sequence dispatcher (planning: claim, gate, render, slot, queue) on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dispatch.py --due 100000

Creates its own database (`crm_bench_dispatch`) on that server, loads --due leads with consent,
living where it is mid-afternoon now (the run works at any hour), each enrolled in a two-step
sequence with its first step due, then runs the production dispatcher until nothing is due,
counting queries per batch. Sending is the sender's work (bench/sender.py).

Last line: `dispatch: X msgs/s; queries/batch Q` (Q is the same for every full batch).
Goal (issue 9): X >= 2,000. `--smoke` (CI): 2,000 enrolments.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from benchdb import drop_database, prepare_database, server_urls
from texting import load_due_enrolments

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOAL = 2_000
NUMBERS = ["+15125550100", "+15125550101", "+15125550102"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="CI size: 2,000 due enrolments")
    parser.add_argument("--db-name", default="crm_bench_dispatch")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the slowest queries of one batch")
    args = parser.parse_args()
    if args.smoke:
        args.due = 2_000

    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ["SMS_RATE_PER_NUMBER"] = "0"  # no pacing: the dispatcher's own cost
    os.environ["REDIS_URL"] = ""  # the ORM broker: the senders it starts wait in the database, unrun
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    os.environ["DATABASE_URL"] = bench_url

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import CompanySettings, Message
    from crm.services.messaging.dispatch import DispatchStats, dispatch_batch

    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    zone = load_due_enrolments(args.due, NUMBERS)
    print(f"Loaded {args.due:,} due enrolments (leads in {zone}) in {time.perf_counter() - started:.1f} s.")

    company = CompanySettings.load()
    stats = DispatchStats()
    per_batch = []
    started = time.perf_counter()
    while True:
        before = stats.claimed
        with CaptureQueriesContext(connection) as captured:
            dispatch_batch(batch_size=args.batch, company=company, stats=stats)
        if stats.claimed == before:
            break
        per_batch.append((stats.claimed - before, len(captured.captured_queries)))
        if args.explain and len(per_batch) in (2, args.due // args.batch - 5):
            for q in sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:8]:
                print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:150]}")
    elapsed = time.perf_counter() - started
    queued = Message.objects.filter(status="queued").count()
    full = {q for n, q in per_batch if n == args.batch}
    print(f"{stats.batches} batches of up to {args.batch}: queued {stats.queued:,}, rescheduled {stats.rescheduled}, "
          f"stopped {stats.stopped}, in {elapsed:.1f} s")
    print(f"queries per full batch: {sorted(full)}; last batch: {per_batch[-1] if per_batch else None}")
    if queued != args.due or stats.queued != args.due:
        sys.exit(f"expected {args.due} texts queued, found {queued}")
    rate = queued / elapsed
    print(f"Goal >= {GOAL:,} msgs/s with the same queries per batch: "
          f"{'met' if rate >= GOAL and len(full) <= 1 else 'NOT met'}.")
    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"dispatch: {rate:,.0f} msgs/s; queries/batch {max(full) if full else per_batch[-1][1]}")


if __name__ == "__main__":
    main()
