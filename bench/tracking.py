"""Benchmark the public tracking endpoint under gunicorn against a hello-world view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/tracking.py

DATABASE_URL only names the PostgreSQL server: the benchmark creates its own database
(`crm_bench_tracking`) there, migrates it, bulk-creates --leads leads and a staff user
(the admins told when an unassigned lead turns hot), and empties its own Redis database
(--redis-url, default redis://127.0.0.1:6379/3: not 14, which the other gunicorn benchmarks
share and empty, and whose workers would flush this run's queued events into their own
databases). It then serves the project with gunicorn (2 workers; `--worker-class sync,gthread`
runs each in turn) under `settings.production` with bench values (random secret key,
that REDIS_URL, no SSL redirect) on a free port of 127.0.0.1, through
bench/wsgi_bench.py, which adds `/__hello__`: a view returning "hello" through the same
middleware. A load generator in this process (asyncio, plain HTTP/1.1 on sockets, so it
spends as little CPU as it can) drives, for each target, --warmup seconds untimed and then
--seconds timed:

- closed loop: --clients concurrent clients, each sending its next request on the answer
  to the last: the maximum throughput;
- open loop: --rate requests per second on a fixed schedule, latency counted from the
  scheduled send time (a stalled server cannot hide its queue).

The tracking requests are POST /p/<token>/t/ with a browser User-Agent, the page's signed
nonce and a valid body: a "view" for --view-share of them and a "ping" (15 s) otherwise,
round robin over the leads. Every one must be answered 201 (counted); anything else is an
error. The per-address limit is raised (TRACKING_EVENTS_PER_MINUTE) for the run, since all
requests come from 127.0.0.1: the limiter still runs its Redis calls on every request.
Every view runs the hot rule (a count over the window); a lead gets a view every
--leads / --view-share requests (4,000 by default), so it turns hot, once, only in a run of
more than about twice that; bench/hot_latency.py times the alert itself. Before each tracking run the events, alerts and
hot flags of the previous run are cleared, so each starts from the same state.

First, the same WSGI application is called in this process, one request at a time, to give
the CPU cost per request of hello, a ping and a view (`--profile` adds a cProfile of the
tracking requests): figures that other work on the machine changes little.

The load generator shares the machine's cores with gunicorn, PostgreSQL and Redis; the
table shows how much CPU each used, and how much everything else did ("other": on a shared
machine, compare runs only when it is low). `--repeat N` alternates the runs N times and
reports medians. Last line (for the first worker class; p99 from the open-loop run):

    tracking: X req/s; hello: Y req/s; ratio R; p99 P ms

Goal (issue 6): R >= 0.5 and P <= 50 ms at 200 req/s. The exit status is 1 when any request
was answered with anything but 201 (200 for hello) or not at all. `--smoke` (CI): 200 leads,
sync workers only, 0.5 s warm-up and 2 s per run, 50 requests per kind in-process.
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from itertools import cycle

from benchdb import drop_database, percentile, prepare_database, server_urls
from httpload import (  # noqa: F401 - hot_latency.py imports these from here
    BENCH_DIR,
    PROJECT_DIR,
    REDIS_URL,
    Gunicorn,
    Pool,
    Run,
    bench_environment,
    build_request,
    closed_loop,
    cpu_snapshot,
    fetch_once,
    free_port,
    measure,
    open_loop,
    raise_on_sigterm,
    setup_django,
)

BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
STAFF_USERNAME = "bench_admin"
GOAL_RATIO, GOAL_P99_MS = 0.5, 50
BUSY_OTHER_PERCENT = 20  # other work using more of a core than this makes the figures low
TRACKING_REDIS_URL = "redis://127.0.0.1:6379/3"


# --- the data --------------------------------------------------------------------------------

def create_data(leads: int) -> list[str]:
    """Leads (unassigned, so their hot alerts go to the admins) and a staff admin; their tokens."""
    from crm.models import Lead, User

    User.objects.create_superuser(STAFF_USERNAME, f"{STAFF_USERNAME}@example.com", secrets.token_urlsafe(16))
    Lead.objects.bulk_create(
        [Lead(business_name=f"Bench Plumbing {i}", phone=f"+1512{5550000 + i:07d}", city="Austin", state="TX",
              category="plumber", first_line="We built you a site.") for i in range(leads)],
        batch_size=1000,
    )
    return list(Lead.objects.order_by("pk").values_list("preview_token", flat=True))


def reset_tracking_state() -> None:
    """Each tracking run starts from the same place: no events, no alerts, nobody hot."""
    from django.db import connection

    from crm.models import Lead

    from crm.integrations.tracking_queue import tracking_queue_reset

    tracking_queue_reset()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_previewevent, crm_notification, crm_timelineevent")
    Lead.objects.update(priority=Lead.Priority.NORMAL, hot_at=None, status=Lead.Status.NEW, preview_views=0,
                        preview_clicks=0, preview_seconds=0, engagement_score=0, last_viewed_at=None)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE crm_lead")


def tracking_event(kind: str, token: str, session: str) -> bytes:
    from preview.views import tracking_nonce

    payload = {"type": kind, "session": session, "nonce": tracking_nonce(token)}
    if kind == "ping":
        payload["seconds"] = 15
    return json.dumps(payload, separators=(",", ":")).encode()


def tracking_requests(tokens: list[str], port: int, view_share: float) -> list[bytes]:
    """Round robin over the leads; each lead's events are one view then pings, and the views
    are staggered across leads so they make up --view-share of every stretch of the load."""
    rounds = max(1, round(1 / view_share)) if view_share > 0 else 1
    headers = {"User-Agent": BROWSER_UA, "Content-Type": "application/json", "Accept": "*/*",
               "Origin": f"http://127.0.0.1:{port}"}
    sessions = {token: secrets.token_hex(8) for token in tokens}
    requests = []
    for round_ in range(rounds):
        for i, token in enumerate(tokens):
            kind = "view" if view_share > 0 and (i + round_) % rounds == 0 else "ping"
            requests.append(build_request("POST", f"/p/{token}/t/", port, tracking_event(kind, token, sessions[token]),
                                          headers))
    return requests


def check_endpoint(port: int, token: str) -> None:
    """The load must take the counted path: a browser event is 201, a link-preview bot's is 202."""
    body = tracking_event("ping", token, secrets.token_hex(8))
    for user_agent, expected in ((BROWSER_UA, 201), ("facebookexternalhit/1.1", 202)):
        raw = build_request("POST", f"/p/{token}/t/", port, body,
                            {"User-Agent": user_agent, "Content-Type": "application/json"})
        status, answer = asyncio.run(fetch_once(port, raw))
        if status != expected:
            sys.exit(f"tracking check: {user_agent[:30]!r} got {status} {answer[:200]!r}, expected {expected}")


def events_written() -> int:
    from crm.models import PreviewEvent

    return PreviewEvent.objects.count()


# --- cost per request in this process -------------------------------------------------------

def in_process_cost(tokens: list[str], requests: int, profile: bool) -> dict[str, tuple[float, float]]:
    """CPU and wall ms per request for hello, ping and view, through the same WSGI application
    and middleware in this process: no HTTP server, no load generator, no other request running."""
    import cProfile
    import pstats

    from django.test import RequestFactory

    from wsgi_bench import application

    factory = RequestFactory(HTTP_HOST="127.0.0.1", HTTP_USER_AGENT=BROWSER_UA)
    sessions = {token: secrets.token_hex(8) for token in tokens}

    def environ(kind: str, i: int) -> dict:
        if kind == "hello":
            return factory.get("/__hello__").environ
        token = tokens[i % len(tokens)]
        return factory.post(f"/p/{token}/t/", tracking_event(kind, token, sessions[token]),
                            content_type="application/json").environ

    def call(environ: dict) -> None:
        statuses = []
        body = application(environ, lambda status, headers: statuses.append(status))
        b"".join(body)
        body.close()
        if not statuses[0].startswith(("200", "201")):
            sys.exit(f"in-process request answered {statuses[0]}")

    for i in range(len(tokens)):  # each lead's first event looks its token up: not what is timed
        call(environ("ping", i))
    costs = {}
    for kind in ("hello", "ping", "view"):
        reset_tracking_state()
        prepared = [environ(kind, i) for i in range(requests + 20)]
        for env in prepared[:20]:
            call(env)
        cpu, wall = time.process_time(), time.perf_counter()
        for env in prepared[20:]:
            call(env)
        costs[kind] = ((time.process_time() - cpu) / requests * 1000, (time.perf_counter() - wall) / requests * 1000)
    if profile:
        reset_tracking_state()
        prepared = [environ("view" if i % 4 == 0 else "ping", i) for i in range(requests)]
        profiler = cProfile.Profile()
        for env in prepared:
            profiler.runcall(call, env)
        print(f"cProfile of {requests} tracking requests in this process (1 view : 3 pings), by own time:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    reset_tracking_state()
    return costs


# --- the report ------------------------------------------------------------------------------

CPU_COLUMNS = ("loadgen", "gunicorn", "postgres", "redis", "other")


def print_row(label: str, run: Run) -> None:
    cpu = " ".join(f"{run.cpu.get(name, 0):{len(name)}.0f}" for name in CPU_COLUMNS)
    print(f"{label:<18} {run.target:<9} {run.mode:<7} {run.load:>9} {run.rate:9,.0f} {run.ms(50):8.1f} "
          f"{run.ms(99):8.1f} {max(run.latencies, default=0) * 1000:8.1f} {run.errors:6} | {cpu}", flush=True)


def print_header() -> None:
    print(f"{'server':<18} {'target':<9} {'mode':<7} {'load':>9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'errors':>6} | CPU % of one core: {' '.join(CPU_COLUMNS)}")
    print("  (other: every other process on the machine, and the CPU of any process that exited during the "
          "run, e.g. a PostgreSQL backend closed after CONN_MAX_AGE)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--worker-class", default="sync,gthread",
                        help="gunicorn worker classes to run, comma-separated (default sync,gthread); "
                             "the last line reports the first")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--clients", type=int, default=16, help="closed-loop concurrent clients")
    parser.add_argument("--rate", type=float, default=200, help="open-loop requests per second")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1, help="run each measurement this many times, alternating")
    parser.add_argument("--view-share", type=float, default=0.25, help="share of tracking events that are views")
    parser.add_argument("--cost-requests", type=int, default=500,
                        help="requests per kind for the in-process cost per request (0 skips it)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of in-process tracking requests")
    parser.add_argument("--db-name", default="crm_bench_tracking")
    parser.add_argument("--redis-url", default=TRACKING_REDIS_URL,
                        help=f"the run's own Redis database, emptied at the start (default {TRACKING_REDIS_URL})")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--smoke", action="store_true",
                        help="CI size: 200 leads, sync workers, 2 s per run, 50 requests in-process")
    args = parser.parse_args()
    if args.smoke:
        args.leads, args.worker_class, args.warmup, args.seconds, args.cost_requests = 200, "sync", 0.5, 2.0, 50
    args.worker_classes = [name.strip() for name in args.worker_class.split(",") if name.strip()]
    if not set(args.worker_classes) <= {"sync", "gthread"}:
        parser.error("--worker-class takes sync and/or gthread")
    return args


def run_one(server: Gunicorn, args, target: str, mode: str, requests: list[bytes]) -> Run:
    if target == "tracking":
        reset_tracking_state()
    expect = 201 if target == "tracking" else 200
    if mode == "closed":
        run = Run(target, mode, f"{args.clients} cl", expect)
        coroutine = closed_loop(run, server.port, cycle(requests), args.clients, args.warmup, args.seconds)
    else:
        run = Run(target, mode, f"{args.rate:g}/s", expect)
        coroutine = open_loop(run, server.port, cycle(requests), args.rate, args.warmup, args.seconds)
    measure(server, args.db_name, run, coroutine)
    print_row(server.label, run)
    if run.errors:
        print(f"  answers: {run.statuses}, no answer: {run.failures}; log {server.log}")
    if target == "tracking":
        from crm.services.preview_queue import preview_events_flush

        started = time.perf_counter()
        flushed = preview_events_flush()  # what the worker's flush task does, here in-process
        if flushed:
            print(f"  flushed {flushed:,} queued events to the database in {time.perf_counter() - started:.2f} s "
                  f"({flushed / max(time.perf_counter() - started, 1e-9):,.0f} events/s)")
        counted = sum(n for status, n in run.statuses.items() if status == 201)
        print(f"  events in the database: {events_written():,} (>= {counted:,} answered 201 in the timed part)")
    return run


def summary(runs: dict[tuple[str, str], list[Run]]) -> tuple[float, float, float, list[Run]]:
    """Median throughput over the repeats of each closed loop; tracking p99 over all open-loop answers."""
    tracking_rate = statistics.median(run.rate for run in runs["tracking", "closed"])
    hello_rate = statistics.median(run.rate for run in runs["hello", "closed"])
    open_runs = runs["tracking", "open"]
    latencies = [latency for run in open_runs for latency in run.latencies]
    p99 = percentile(latencies, 99) * 1000 if latencies else float("nan")
    return tracking_rate, hello_rate, p99, open_runs


def server_cpu_ms(runs: list[Run]) -> float:
    """gunicorn's CPU ms per answered request in closed loops (median of the repeats): unlike
    req/s, hardly changed by other work on the machine (warm-up and timed part run at one rate)."""
    return statistics.median(run.cpu.get("gunicorn", 0) * 10 / run.rate if run.rate else 0 for run in runs)


def main() -> None:
    args = parse_args()
    raise_on_sigterm()
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    port = free_port()
    env = bench_environment(bench_url, port, events_per_minute=1_000_000, redis_url=args.redis_url)
    setup_django(env)
    tokens = create_data(args.leads)
    print(f"{args.leads:,} leads and a staff user created; tracking events: {args.view_share:.0%} view, "
          f"the rest ping; TRACKING_EVENTS_PER_MINUTE raised to 1,000,000 (one client address).")
    print(f"Load generator in this process, on the same {os.cpu_count()} cores as gunicorn, PostgreSQL, "
          f"Redis and anything else running ('other' below). Each run: {args.warmup:g} s warm-up, then "
          f"{args.seconds:g} s timed; closed loop with {args.clients} clients, open loop at {args.rate:g} "
          f"req/s; tracking and hello alternate, {args.repeat} time(s). Sync workers close the connection "
          f"after each answer; gthread workers keep it open.")
    hello = build_request("GET", "/__hello__", port, headers={"User-Agent": BROWSER_UA, "Accept": "*/*"})
    requests = {"tracking": tracking_requests(tokens, port, args.view_share), "hello": [hello]}
    results: dict[str, dict[tuple[str, str], list[Run]]] = {}
    try:
        if args.cost_requests:
            costs = in_process_cost(tokens, args.cost_requests, args.profile)
            print("In this process, same WSGI application and middleware, one request at a time, every "
                  "token already looked up (CPU time: little changed by other work on the machine):")
            for kind, (cpu, wall) in costs.items():
                times = f" ({cpu / costs['hello'][0]:.0f}x hello's CPU)" if kind != "hello" else ""
                print(f"  {kind:<6} CPU {cpu:5.2f} ms/request, wall {wall:5.2f} ms/request{times}")
        print_header()
        for worker_class in args.worker_classes:
            with Gunicorn(port, env, worker_class, threads=args.threads) as server:
                check_endpoint(port, tokens[0])
                runs = results[server.label] = {}
                for _ in range(args.repeat):
                    for target, mode in (("tracking", "closed"), ("hello", "closed"),
                                         ("tracking", "open"), ("hello", "open")):
                        run = run_one(server, args, target, mode, requests[target])
                        runs.setdefault((target, mode), []).append(run)
    finally:
        from django.db import connections

        connections.close_all()
        if args.drop:
            drop_database(maintenance_url, args.db_name)
    print("Summary (closed-loop req/s: median of the repeats; p99 at the open-loop rate):")
    for label, runs in results.items():
        tracking_rate, hello_rate, p99, _ = summary(runs)
        print(f"  {label:<14} tracking {tracking_rate:6,.0f} req/s  hello {hello_rate:6,.0f} req/s  "
              f"ratio {tracking_rate / hello_rate if hello_rate else 0:.2f}  tracking p99 {p99:7.1f} ms  "
              f"gunicorn CPU per request: tracking {server_cpu_ms(runs['tracking', 'closed']):.2f} ms, "
              f"hello {server_cpu_ms(runs['hello', 'closed']):.2f} ms")
    label = next(iter(results))
    runs = results[label]
    tracking_rate, hello_rate, p99, open_runs = summary(runs)
    ratio = tracking_rate / hello_rate if hello_rate else 0.0
    other = statistics.mean(run.cpu.get("other", 0) for group in runs.values() for run in group)
    if other > BUSY_OTHER_PERCENT:
        print(f"Warning: other work on this machine used {other:.0f}% of a core on average during the "
              f"{label} runs; the figures are lower than on a quiet machine.")
    met = ratio >= GOAL_RATIO and p99 <= GOAL_P99_MS and not any(run.errors for run in open_runs)
    print(f"Reported: {label}. Goal ratio >= {GOAL_RATIO} and tracking p99 <= {GOAL_P99_MS} ms at "
          f"{args.rate:g} req/s: {'met' if met else 'NOT met'}.")
    print(f"tracking: {tracking_rate:,.0f} req/s; hello: {hello_rate:,.0f} req/s; ratio {ratio:.2f}; "
          f"p99 {p99:.1f} ms")
    # Broken, not slow: a request answered with anything but 201 (tracking) or 200 (hello), or none.
    broken = [f"{label} {target} {mode}: {run.errors} errors, {len(run.latencies)} answered"
              for label, runs in results.items() for (target, mode), group in runs.items() for run in group
              if run.errors or not run.latencies]
    if broken:
        sys.exit("broken runs:\n  " + "\n  ".join(broken))


if __name__ == "__main__":
    main()
