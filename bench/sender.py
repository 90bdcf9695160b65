"""Benchmark the sender (one committed outcome per text) against the dispatcher's planning rate.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/sender.py --texts 20000

Own database `crm_bench_sender`, Redis broker (db 14, or --redis-url; emptied), outbox backend, no
pacing. In the same run: the production dispatcher plans --texts due steps (timed: the reference, "planned"),
then `manage.py qcluster` with 2 worker processes sends them through `message_send`, each text
claimed, re-checked on its locked lead, sent and recorded in its own transactions ("sender",
from the first send to the last).

Last line: `sender: X msgs/s; planned: Y msgs/s; ratio R`. Goal: R >= 0.25.
`--smoke` (CI): 2,000 texts.
"""

import argparse
import os
import sys
import time

from benchdb import drop_database, prepare_database, server_urls
from cluster import Cluster
from httpload import REDIS_URL, bench_environment, free_port, raise_on_sigterm, setup_django
from texting import load_due_enrolments

GOAL = 0.25
NUMBERS = ["+15125550100", "+15125550101", "+15125550102"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS (sender processes)")
    parser.add_argument("--threads", type=int, default=4, help="SMS_SENDER_THREADS (texts in flight per sender)")
    parser.add_argument("--smoke", action="store_true", help="CI size: 2,000 texts")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--db-name", default="crm_bench_sender")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--redis-url", default=REDIS_URL, help="the broker's Redis database (emptied first)")
    args = parser.parse_args()
    if args.smoke:
        args.texts = 2_000
    raise_on_sigterm()

    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    env = {**bench_environment(bench_url, free_port(), redis_url=args.redis_url), "SMS_RATE_PER_NUMBER": "0",
           "TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": "", "Q_WORKERS": str(args.workers),
           "SMS_SENDERS": str(args.workers), "SMS_SENDER_THREADS": str(args.threads)}
    setup_django(env)
    from django.db import connections
    from django.db.models import Max, Min

    from crm.models import Message
    from crm.services.messaging.dispatch import dispatch_due

    started = time.perf_counter()
    zone = load_due_enrolments(args.texts, NUMBERS)
    print(f"Loaded {args.texts:,} due enrolments (leads in {zone}) in {time.perf_counter() - started:.1f} s.")

    # The reference: the dispatcher plans every text (the senders it starts wait in Redis).
    started = time.perf_counter()
    planned = dispatch_due(batch_size=1000)
    planned_rate = planned.queued / (time.perf_counter() - started)
    print(f"Planned {planned.queued:,} texts at {planned_rate:,.0f}/s.")

    with Cluster({**os.environ, **env}, "sender") as cluster:
        started = time.monotonic()
        while Message.objects.filter(status__in=["queued", "sending"]).exists():
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"texts still queued after {args.timeout:g} s")
            cluster.check()
            time.sleep(0.2)

    span = Message.objects.aggregate(first=Min("claimed_at"), last=Max("sent_at"))
    sent = Message.objects.filter(status__in=["sent", "delivered"]).count()
    seconds = (span["last"] - span["first"]).total_seconds()
    rate = sent / seconds
    ratio = rate / planned_rate
    print(f"Sent {sent:,} of {args.texts:,} in {seconds:.1f} s with {args.workers} worker processes x "
          f"{args.threads} threads ({rate:,.0f}/s); each text: claim, lock the lead, gate, send, record, "
          "timeline, next step.")
    print(f"Goal ratio >= {GOAL}: {'met' if ratio >= GOAL else 'NOT met'}.")
    if args.drop:
        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"sender: {rate:,.0f} msgs/s; planned: {planned_rate:,.0f} msgs/s; ratio {ratio:.2f}")
    if sent != args.texts:
        sys.exit(1)


if __name__ == "__main__":
    main()
