"""Benchmark the sequence dispatcher on PostgreSQL with the outbox backend and no rate limit.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dispatch.py --due 100000

Creates its own database (`crm_bench_dispatch`) on that server, loads --due leads with
consent and a time zone, each enrolled in a two-step sequence with its first step due,
then runs the production dispatcher (claim with SKIP LOCKED, gate, render, queue, advance,
deliver, record) until nothing is due, counting queries per batch.

Last line: `dispatch: X msgs/s; queries/batch Q` (Q is the same for every full batch).
Goal (issue 5): X >= 2,000.
"""

import argparse
import os
import sys
import time
import warnings
from datetime import datetime, timedelta, timezone as dt_timezone
from pathlib import Path

from benchdb import drop_database, prepare_database, server_urls

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOAL = 2_000

LOAD_SQL = """
INSERT INTO crm_lead (
    business_name, contact_first_name, contact_last_name, phone, email, website, address, city,
    state, postcode, country, category, status, priority, time_zone, time_zone_source,
    enrichment_data, enrichment_status, enrichment_error, enrichment_attempts, first_line,
    first_line_status, first_line_source, first_line_facts, engagement_score, consent_source, consent_at,
    preview_views, preview_clicks, preview_seconds, inbound_messages,
    preview_token, notes, created_at, updated_at
)
SELECT 'Business ' || i, 'Sam', '', '+1' || (ARRAY['212','415','312','617','305','206','303','512'])[1 + i % 8]
       || (2000000 + i / 8)::text, '', '', '', 'Austin', 'TX', '78701', 'US', 'plumber', 'NEW', 'NORMAL',
       'America/Chicago', 'state', '{{}}'::jsonb, 'done', '', 0, 'We built you a site.', 'done', 'template',
       '{{}}'::jsonb, 0, 'bench', now(), 0, 0, 0, 0, md5('t' || i) || md5('u' || i), '', now(), now()
FROM generate_series(1, {count}) AS i;
INSERT INTO crm_enrollment (lead_id, sequence_id, next_step_id, next_run_at, status, stop_reason, created_at)
SELECT id, {sequence}, {step}, {due}::timestamptz, 'active', '', now() FROM crm_lead;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--due", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--db-name", default="crm_bench_dispatch")
    parser.add_argument("--drop", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the slowest queries of one batch")
    args = parser.parse_args()

    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    os.environ["SMS_RATE_PER_NUMBER"] = "0"  # no rate limit: the dispatcher's own cost
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        os.environ[name] = ""  # the outbox backend, never the network
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    os.environ["DATABASE_URL"] = bench_url

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.integrations.sms import OutboxSmsBackend
    from crm.models import CompanySettings, Message, MessageTemplate, Sequence, SequenceStep
    from crm.services.messaging.dispatch import DispatchStats, dispatch_batch

    call_command("migrate", verbosity=0, interactive=False)
    company = CompanySettings.load()
    company.sender_numbers = "+15125550100\n+15125550101\n+15125550102"
    company.save()
    template = MessageTemplate.objects.create(name="Day 0", body="Hi {contact_first_name}, {first_line} {preview_url}")
    sequence = Sequence.objects.create(name="Bench")
    first = SequenceStep.objects.create(sequence=sequence, order=1, delay_days=0, template=template)
    SequenceStep.objects.create(sequence=sequence, order=2, delay_days=2, template=template)
    # Noon in Chicago today: inside quiet hours for every lead.
    now = datetime.now(dt_timezone.utc).replace(hour=17, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(LOAD_SQL.format(count=int(args.due), sequence=sequence.pk, step=first.pk,
                                       due=f"'{(now - timedelta(minutes=1)).isoformat()}'"))
        cursor.execute("VACUUM ANALYZE crm_lead")
        cursor.execute("VACUUM ANALYZE crm_enrollment")
    print(f"Loaded {args.due:,} due enrolments in {time.perf_counter() - started:.1f} s.")

    backend = OutboxSmsBackend()
    stats = DispatchStats()
    per_batch = []
    started = time.perf_counter()
    while True:
        before = stats.claimed
        with CaptureQueriesContext(connection) as captured:
            dispatch_batch(now=now, batch_size=args.batch, backend=backend, company=company, stats=stats)
        if stats.claimed == before:
            break
        per_batch.append((stats.claimed - before, len(captured.captured_queries)))
        if args.explain and len(per_batch) in (2, args.due // args.batch - 5):
            for q in sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:8]:
                print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:150]}")
    elapsed = time.perf_counter() - started
    sent = Message.objects.filter(status__in=["sent", "delivered"]).count()
    full = {q for n, q in per_batch if n == args.batch}
    print(f"{stats.batches} batches of up to {args.batch}: queued {stats.queued:,}, sent {stats.sent:,}, "
          f"rescheduled {stats.rescheduled}, stopped {stats.stopped}, in {elapsed:.1f} s")
    print(f"queries per full batch: {sorted(full)}; last batch: {per_batch[-1] if per_batch else None}")
    if sent != args.due or stats.sent != args.due:
        sys.exit(f"expected {args.due} texts sent, found {sent}")
    rate = sent / elapsed
    print(f"Goal >= {GOAL:,} msgs/s with the same queries per batch: "
          f"{'met' if rate >= GOAL and len(full) <= 1 else 'NOT met'}.")
    if args.drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"dispatch: {rate:,.0f} msgs/s; queries/batch {max(full) if full else per_batch[-1][1]}")


if __name__ == "__main__":
    main()
