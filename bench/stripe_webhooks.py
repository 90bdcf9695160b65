"""Benchmark Stripe webhooks under gunicorn against a hello-world view, and check every effect.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/stripe_webhooks.py

DATABASE_URL only names the PostgreSQL server: the benchmark creates its own database
(`crm_bench_stripe_webhooks`) there, migrates it and bulk-creates --leads leads, each assigned
to a rep (so every payment accrues a commission), and an admin (told about payments). It then
serves the project with gunicorn (2 sync workers) under `settings.production` with bench values
(a random webhook secret) on a free port of 127.0.0.1, through bench/wsgi_bench.py, which adds
`/__hello__`: a view returning "hello" through the same middleware.

The load is signed Stripe events (built from Stripe's object shapes in fakes/stripe_shapes/
and signed with the stripe SDK's signer when sent, so no signature goes stale) POSTed to
/webhooks/stripe/. Each customer's story is, in order: checkout.session.completed, the first
invoice.paid (setup line + first month), customer.subscription.updated (quantity 2: an
expansion), a renewal invoice.paid, then one of invoice.payment_failed, charge.refunded,
customer.subscription.deleted (an early churn: commissions clawed back) or another
invoice.paid. Stories are interleaved in batches, so a customer's events are a batch apart,
and every --dup-every-th delivery repeats an earlier event (Stripe's at-least-once delivery,
which must change nothing).

Runs, each --warmup s untimed then --seconds s timed: webhooks closed loop (--clients
concurrent senders: the maximum rate), hello closed loop (the reference), webhooks open loop at
--rate events/s (latency from the scheduled send time), hello open loop. Events whose delivery
timed out before the server stored them are then sent again, in order (as Stripe retries), and
the database must hold exactly what the distinct events imply: one stored and processed WebhookEvent per
distinct event, and the clients, transactions, commissions and MRR movements (counts and sums).
Last line:

    stripe-webhooks: X events/s; p99 Y ms; hello: Z req/s; ratio R

X is the closed-loop rate, p99 from the open-loop run at --rate (goal: p99 <= 100 ms at 50/s).
Exit status 1 when any delivery got a non-2xx answer (or none), or the effects differ.
`--smoke` (CI): 300 leads, 0.5 s warm-up and 2 s per run, the open loop at 5 events/s.
"""

import argparse
import os
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import cycle

from benchdb import drop_database, prepare_database, server_urls
from httpload import (
    Gunicorn,
    Run,
    bench_environment,
    build_request,
    closed_loop,
    fetch_once,
    free_port,
    measure,
    open_loop,
    raise_on_sigterm,
    setup_django,
)

PATH = "/webhooks/stripe/"
GOAL_P99_MS, GOAL_RATE = 100, 50
SETUP, MONTHLY = 49_900, 9_900
REFUND = 5_000


# --- the events ------------------------------------------------------------------------------

@dataclass
class Expected:
    """What the delivered events must have written."""

    events: set = field(default_factory=set)
    counts: Counter = field(default_factory=Counter)
    sums: Counter = field(default_factory=Counter)

    def add(self, event_id: str, effects: dict) -> None:
        if event_id in self.events:
            return
        self.events.add(event_id)
        for key, value in effects.items():
            (self.sums if key.endswith("_cents") else self.counts)[key] += value


def story(lead_id: int, index: int, t0: int) -> list[tuple[dict, dict]]:
    """One customer's events, in order, each with the effects it must have."""
    from fakes.stripe_events import (
        charge_refunded,
        checkout_completed,
        invoice_event,
        new_id,
        subscription_event,
    )

    customer, sub, first = f"cus_bench{index}", f"sub_bench{index}", new_id("in")
    accrued = SETUP // 10 + MONTHLY // 10 + 2 * MONTHLY // 10
    events = [
        (checkout_completed(lead_id=lead_id, customer=customer, subscription=sub, invoice=first, created=t0),
         {"clients": 1, "transactions": 1, "commissions": 1, "mrr_changes": 1,
          "txn_cents": SETUP, "commission_cents": SETUP // 10}),
        (invoice_event("invoice.paid", customer=customer, subscription=sub, amount=MONTHLY, setup_amount=SETUP,
                       invoice_id=first, created=t0 + 1),
         {"transactions": 1, "commissions": 1, "txn_cents": MONTHLY, "commission_cents": MONTHLY // 10}),
        (subscription_event("customer.subscription.updated", subscription=sub, customer=customer, quantity=2,
                            created=t0 + 2),
         {"mrr_changes": 1}),
        (invoice_event("invoice.paid", customer=customer, subscription=sub, amount=2 * MONTHLY, created=t0 + 3),
         {"transactions": 1, "commissions": 1, "txn_cents": 2 * MONTHLY, "commission_cents": 2 * MONTHLY // 10}),
    ]
    ending = index % 4
    if ending == 0:
        events.append((invoice_event("invoice.payment_failed", customer=customer, subscription=sub,
                                     amount=2 * MONTHLY, created=t0 + 4), {"transactions": 1, "failed": 1}))
    elif ending == 1:
        events.append((charge_refunded(customer=customer, amount=SETUP + MONTHLY, amount_refunded=REFUND,
                                       created=t0 + 4),
                       {"transactions": 1, "commissions": 1, "txn_cents": -REFUND, "commission_cents": -REFUND // 10}))
    elif ending == 2:
        events.append((subscription_event("customer.subscription.deleted", subscription=sub, customer=customer,
                                          status="canceled", created=t0 + 4),
                       {"mrr_changes": 1, "churned": 1, "commissions": 3, "commission_cents": -accrued}))
    else:
        events.append((invoice_event("invoice.paid", customer=customer, subscription=sub, amount=2 * MONTHLY,
                                     created=t0 + 4),
                       {"transactions": 1, "commissions": 1, "txn_cents": 2 * MONTHLY,
                        "commission_cents": 2 * MONTHLY // 10}))
    return events


class Deliveries:
    """Signed webhook requests, built (and signed) as they are sent, in batches of interleaved
    stories; every dup_every-th one repeats an earlier delivery. Records what must follow."""

    def __init__(self, lead_ids: list[int], port: int, secret: str, batch: int, dup_every: int):
        self.lead_ids, self.port, self.secret, self.batch, self.dup_every = lead_ids, port, secret, batch, dup_every
        self.expected = Expected()
        self.payloads: dict[str, dict] = {}  # distinct events sent, in order
        self.sent = self.duplicates = 0
        self.next_customer = 0
        self._queue: list[tuple[dict, dict]] = []
        self._recent: list[tuple[dict, dict]] = []

    def _refill(self) -> None:
        count = min(self.batch, len(self.lead_ids) - self.next_customer)
        if count <= 0:
            sys.exit(f"Out of leads after {self.sent:,} deliveries: run with more --leads.")
        t0 = int(time.time())
        stories = [story(self.lead_ids[self.next_customer + i], self.next_customer + i, t0) for i in range(count)]
        self.next_customer += count
        self._queue = [s[step] for step in range(5) for s in stories][::-1]

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        self.sent += 1
        if self.dup_every and self.sent % self.dup_every == 0 and len(self._recent) >= 5:
            payload, effects = self._recent[-5]
            self.duplicates += 1
        else:
            if not self._queue:
                self._refill()
            payload, effects = self._queue.pop()
            self._recent = (self._recent + [(payload, effects)])[-10:]
        self.expected.add(payload["id"], effects)
        self.payloads.setdefault(payload["id"], payload)
        return self.request(payload)

    def request(self, payload: dict) -> bytes:
        from fakes.stripe_events import signed

        body, headers = signed(payload, secret=self.secret)
        return build_request("POST", PATH, self.port, body, headers)

    def redeliver_missing(self, attempts: int = 30) -> int:
        """Stripe's retry: send again, one at a time and in order, every event that is not
        stored (its delivery timed out before the server took it); returns how many."""
        import asyncio

        from crm.models import WebhookEvent

        stored = set(WebhookEvent.objects.filter(event_id__in=list(self.payloads)).values_list("event_id", flat=True))
        missing = [payload for event_id, payload in self.payloads.items() if event_id not in stored]
        for payload in missing:
            for _ in range(attempts):
                try:
                    status, _ = asyncio.run(fetch_once(self.port, self.request(payload)))
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    status = 0
                if 200 <= status < 300:
                    break
                time.sleep(1)
            else:
                sys.exit(f"event {payload['id']} was never answered 2xx")
        return len(missing)


def create_data(leads: int) -> list[int]:
    """Leads shared round robin by two reps, and an admin; the lead ids."""
    from django.contrib.auth.models import Group

    from crm.models import CompanySettings, Lead, RepProfile, User

    CompanySettings.load()  # default prices: $499 setup, $99 a month, 10% commission
    User.objects.create_superuser("bench_admin", "bench_admin@example.com", secrets.token_urlsafe(16))
    reps = []
    for name in ("bench_rep1", "bench_rep2"):
        rep = User.objects.create_user(name, f"{name}@example.com", secrets.token_urlsafe(16), is_staff=True)
        rep.groups.add(Group.objects.get_or_create(name="REP")[0])
        RepProfile.objects.create(user=rep)  # 10%
        reps.append(rep)
    Lead.objects.bulk_create(
        [Lead(business_name=f"Bench Bakery {i}", phone=f"+1512{5550000 + i:07d}", city="Austin", state="TX",
              category="bakery", assigned_rep=reps[i % 2]) for i in range(leads)], batch_size=1000)
    return list(Lead.objects.order_by("pk").values_list("pk", flat=True))


def in_process_cost(deliveries: "Deliveries", count: int) -> dict[str, tuple[float, float]]:
    """CPU and wall ms per request, one at a time through the same WSGI application in this
    process (no HTTP server, no load generator): figures other work on the machine changes little."""
    from django.test import RequestFactory

    from wsgi_bench import application

    factory = RequestFactory(HTTP_HOST="127.0.0.1")

    def environ(raw: bytes) -> dict:
        head, body = raw.split(b"\r\n\r\n", 1)
        signature = next(line.split(b": ", 1)[1].decode() for line in head.split(b"\r\n")
                         if line.startswith(b"Stripe-Signature"))
        return factory.post(PATH, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature).environ

    costs = {}
    for kind in ("hello", "webhook"):
        prepared = [factory.get("/__hello__").environ if kind == "hello" else environ(next(deliveries))
                    for _ in range(count)]
        cpu, wall = time.process_time(), time.perf_counter()
        for env in prepared:
            statuses = []
            body = application(env, lambda status, headers: statuses.append(status))
            b"".join(body)
            body.close()
            if not statuses[0].startswith("200"):
                sys.exit(f"in-process {kind} answered {statuses[0]}")
        costs[kind] = ((time.process_time() - cpu) / count * 1000, (time.perf_counter() - wall) / count * 1000)
    return costs


def settle(limit: float = 120.0) -> None:
    """Wait until requests still queued at gunicorn have been handled (every stored event processed)."""
    from crm.models import WebhookEvent

    deadline = time.monotonic() + limit
    while WebhookEvent.objects.filter(processed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.5)


def effects_problems(expected: Expected) -> list[str]:
    """Where the database differs from what the delivered events imply."""
    from django.db.models import Sum

    from crm.models import Client, Commission, MrrChange, Subscription, Transaction, WebhookEvent

    stored = WebhookEvent.objects.filter(source=WebhookEvent.Source.STRIPE)
    found = {
        "events": stored.count(),
        "processed": stored.filter(processed_at__isnull=False).count(),
        "clients": Client.objects.count(),
        "transactions": Transaction.objects.count(),
        "failed": Transaction.objects.filter(status=Transaction.Status.FAILED).count(),
        "commissions": Commission.objects.count(),
        "mrr_changes": MrrChange.objects.count(),
        "churned": Subscription.objects.filter(status=Subscription.Status.CANCELED).count(),
        "txn_cents": Transaction.objects.filter(status=Transaction.Status.SUCCEEDED)
        .aggregate(s=Sum("amount_cents"))["s"] or 0,
        "commission_cents": Commission.objects.aggregate(s=Sum("amount_cents"))["s"] or 0,
    }
    wanted = {"events": len(expected.events), "processed": len(expected.events), **expected.counts,
              **expected.sums}
    return [f"{key}: expected {wanted.get(key, 0):,}, found {value:,}"
            for key, value in found.items() if value != wanted.get(key, 0)]


# --- the runs --------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=6000, help="customers available to the load")
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="open-loop events per second")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop concurrent senders")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=200, help="customers whose stories are interleaved")
    parser.add_argument("--dup-every", type=int, default=10, help="every n-th delivery repeats an earlier one")
    parser.add_argument("--cost-requests", type=int, default=200,
                        help="requests per kind for the in-process cost per request (0 skips it)")
    parser.add_argument("--db-name", default="crm_bench_stripe_webhooks")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--smoke", action="store_true", help="CI size: 300 leads, 0.5 s warm-up, 2 s per run, open loop at 5 events/s")
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.warmup, args.seconds, args.batch, args.cost_requests = 300, 0.5, 2.0, 40, 20
        # A smoke run checks that every event is answered and lands once, not the speed goal:
        # a gentle open-loop rate, so a busy CI machine does not turn a slow answer into none.
        args.rate = min(args.rate, 5.0)
    return args


def print_row(run: Run) -> None:
    cpu = " ".join(f"{name} {run.cpu.get(name, 0):3.0f}" for name in ("loadgen", "gunicorn", "postgres", "other"))
    print(f"{run.target:<9} {run.mode:<7} {run.load:>8} {run.rate:8,.1f}/s p50 {run.ms(50):7.1f} ms "
          f"p99 {run.ms(99):7.1f} ms max {max(run.latencies, default=0) * 1000:7.1f} ms errors {run.errors} "
          f"| CPU % {cpu}", flush=True)


def main() -> None:
    args = parse_args()
    raise_on_sigterm()
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    port = free_port()
    secret = "whsec_bench_" + secrets.token_hex(16)
    env = {**bench_environment(bench_url, port), "STRIPE_WEBHOOK_SECRET": secret}
    setup_django(env)
    lead_ids = create_data(args.leads)
    deliveries = Deliveries(lead_ids, port, secret, args.batch, args.dup_every)
    hello = [build_request("GET", "/__hello__", port, headers={"Accept": "*/*"})]
    print(f"{len(lead_ids):,} leads (2 reps), an admin; 2 sync gunicorn workers; each run {args.warmup:g} s warm-up "
          f"+ {args.seconds:g} s timed; closed loop {args.clients} senders, open loop {args.rate:g}/s; every "
          f"{args.dup_every}th delivery repeats an earlier event.")
    runs: dict[tuple[str, str], Run] = {}
    try:
        if args.cost_requests:
            costs = in_process_cost(deliveries, args.cost_requests)
            print("In this process, one request at a time (CPU time: little changed by other work on the machine):")
            for kind, (cpu, wall) in costs.items():
                print(f"  {kind:<8} CPU {cpu:6.2f} ms/request, wall {wall:6.2f} ms/request")
        with Gunicorn(port, env, "sync") as server:
            for target, mode in (("webhooks", "closed"), ("hello", "closed"), ("webhooks", "open"),
                                 ("hello", "open")):
                requests = deliveries if target == "webhooks" else cycle(hello)
                run = Run(target, mode, f"{args.clients} cl" if mode == "closed" else f"{args.rate:g}/s", 200)
                coroutine = (closed_loop(run, port, requests, args.clients, args.warmup, args.seconds)
                             if mode == "closed" else
                             open_loop(run, port, requests, args.rate, args.warmup, args.seconds))
                measure(server, args.db_name, run, coroutine)
                print_row(run)
                if run.errors:
                    print(f"  answers: {dict(run.statuses)}, no answer: {run.failures}; log {server.log}")
                runs[target, mode] = run
            redelivered = deliveries.redeliver_missing()
            settle()
        problems = effects_problems(deliveries.expected)
    finally:
        from django.db import connections

        connections.close_all()
        if args.drop:
            drop_database(maintenance_url, args.db_name)
    print(f"{deliveries.sent:,} deliveries ({deliveries.duplicates:,} repeats) of {len(deliveries.expected.events):,} "
          f"distinct events for {deliveries.next_customer:,} customers; {redelivered:,} never stored (timed out "
          f"before the server took them) were delivered again, as Stripe retries; effects in the database: "
          f"{'exactly as expected' if not problems else 'WRONG'}.")
    for problem in problems:
        print(f"  {problem}")
    rate, p99 = runs["webhooks", "closed"].rate, runs["webhooks", "open"].ms(99)
    hello_rate = runs["hello", "closed"].rate
    ratio = rate / hello_rate if hello_rate else 0.0
    met = p99 <= GOAL_P99_MS and runs["webhooks", "open"].rate >= 0.95 * args.rate
    print(f"Goal p99 <= {GOAL_P99_MS} ms at {args.rate:g} events/s: {'met' if met else 'NOT met'}.")
    print(f"stripe-webhooks: {rate:,.1f} events/s; p99 {p99:.1f} ms; hello: {hello_rate:,.0f} req/s; "
          f"ratio {ratio:.2f}")
    broken = [f"{target} {mode}: {run.errors} errors" for (target, mode), run in runs.items()
              if run.errors or not run.latencies]
    if broken or problems:
        sys.exit("broken: " + "; ".join(broken + problems))


if __name__ == "__main__":
    main()
