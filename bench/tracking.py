"""Benchmark the public tracking endpoint under gunicorn against a hello-world view.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/tracking.py

DATABASE_URL only names the PostgreSQL server: the benchmark creates its own database
(`crm_bench_tracking`) there, migrates it, bulk-creates --leads leads and a staff user
(the admins told when an unassigned lead turns hot), and empties Redis database 14, its
cache. It then serves the project with gunicorn (2 workers; `--worker-class sync,gthread`
runs each in turn) under `settings.production` with bench values (random secret key,
REDIS_URL=redis://127.0.0.1:6379/14, no SSL redirect) on a free port of 127.0.0.1, through
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

Goal (issue 6): R >= 0.5 and P <= 50 ms at 200 req/s.
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path

from benchdb import drop_database, percentile, prepare_database, server_urls

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
REDIS_URL = "redis://127.0.0.1:6379/14"
BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
STAFF_USERNAME = "bench_admin"
GOAL_RATIO, GOAL_P99_MS = 0.5, 50
BUSY_OTHER_PERCENT = 20  # other work using more of a core than this makes the figures low
REQUEST_TIMEOUT = 10.0


# --- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_environment(bench_url: str, port: int, events_per_minute: int | None = None) -> dict[str, str]:
    """What settings.production needs, with bench values; shared by this process and gunicorn."""
    env = {
        "DJANGO_SETTINGS_MODULE": "settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": bench_url,
        "REDIS_URL": REDIS_URL,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
    }
    if events_per_minute is not None:
        env["TRACKING_EVENTS_PER_MINUTE"] = str(events_per_minute)
    return env


def setup_django(env: dict[str, str]) -> None:
    """Set this process up with the server's settings, migrate, and empty the bench cache."""
    import redis

    os.environ.update(env)
    sys.path.insert(0, str(PROJECT_DIR))
    if str(BENCH_DIR) not in sys.path:
        sys.path.append(str(BENCH_DIR))
    warnings.filterwarnings("ignore", message="No directory at")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    redis.Redis.from_url(REDIS_URL).flushdb()


class Gunicorn:
    """gunicorn in its own process group, always stopped (the whole group) on exit."""

    def __init__(self, port: int, env: dict[str, str], worker_class: str, workers: int = 2, threads: int = 4):
        self.port, self.worker_class, self.workers, self.threads = port, worker_class, workers, threads
        self.env = {**os.environ, **env}
        self.log = Path(tempfile.mkstemp(prefix=f"bench-gunicorn-{worker_class}-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def label(self) -> str:
        if self.worker_class == "gthread":
            return f"{self.workers} gthread x{self.threads}"
        return f"{self.workers} {self.worker_class}"

    def __enter__(self) -> "Gunicorn":
        command = [str(GUNICORN), "--chdir", str(PROJECT_DIR), "--pythonpath", str(BENCH_DIR),
                   "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                   "--worker-class", self.worker_class, "--log-level", "warning",
                   "--error-logfile", str(self.log), "wsgi_bench:application"]
        if self.worker_class == "gthread":
            command[1:1] = ["--threads", str(self.threads)]
        self.process = subprocess.Popen(command, env=self.env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                status, _ = asyncio.run(fetch_once(self.port, build_request("GET", "/__hello__", self.port)))
                if status == 200 and len(self.worker_pids()) == self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"gunicorn did not answer within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        return [pid for pid, ppid, _ in processes() if ppid == self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def __exit__(self, *exc) -> None:
        self.stop()


def raise_on_sigterm() -> None:
    """A SIGTERM to the benchmark unwinds like Ctrl-C, so gunicorn is stopped on the way out."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


# --- CPU accounting from /proc ---------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process we can see."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            found.append((int(entry), ppid, name))
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle or waiting on I/O)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLOCK_TICKS


def cpu_snapshot(server: Gunicorn, db_name: str) -> dict[str, float]:
    """CPU seconds used so far by: this process (the load generator), gunicorn, PostgreSQL
    (the bench database's backends and the server's own processes), Redis, and everything else
    on the machine (other work competing for the same cores)."""
    seen = processes()
    gunicorn = [server.process.pid] + [pid for pid, ppid, _ in seen if ppid == server.process.pid]
    postgres = []
    for pid, _, name in seen:
        if name == "postgres":
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if db_name in title or "(" not in title:  # ours, or a shared server process (WAL writer...)
                postgres.append(pid)
    times = os.times()
    snapshot = {
        "loadgen": times.user + times.system,
        "gunicorn": sum(cpu_seconds(pid) for pid in gunicorn),
        "postgres": sum(cpu_seconds(pid) for pid in postgres),
        "redis": sum(cpu_seconds(pid) for pid, _, name in seen if name.startswith("redis-server")),
    }
    snapshot["other"] = busy_cpu_seconds() - sum(snapshot.values())
    return snapshot


# --- the load generator ----------------------------------------------------------------------

def build_request(method: str, path: str, port: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection; gunicorn's sync workers close it after each answer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Connection":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, raw: bytes) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection can be reused)."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, keep_alive = None, True
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep_alive = False
        if length is None:
            body, keep_alive = await self.reader.read(), False
        else:
            body = await self.reader.readexactly(length)
        return status, body, keep_alive

    def close(self) -> None:
        self.writer.close()


async def fetch_once(port: int, raw: bytes) -> tuple[int, bytes]:
    connection = await Connection.open(port)
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            status, body, _ = await connection.send(raw)
        return status, body
    finally:
        connection.close()


@dataclass
class Run:
    target: str
    mode: str
    load: str
    expect: int
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def record(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == self.expect:
            self.latencies.append(latency)

    def fail(self, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1

    @property
    def errors(self) -> int:
        return sum(self.failures.values()) + sum(n for status, n in self.statuses.items() if status != self.expect)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def ms(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000 if self.latencies else float("nan")


class Pool:
    """Idle keep-alive connections, reused by whichever request comes next."""

    def __init__(self, port: int):
        self.port, self.idle = port, []

    async def request(self, raw: bytes) -> int:
        """Send on an idle connection if there is one; like any HTTP client, try once more on a
        new connection when the server had just closed the idle one (gthread's keep-alive timeout)."""
        if self.idle:
            try:
                return await self._send(self.idle.pop(), raw)
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
                pass
        return await self._send(await Connection.open(self.port), raw)

    async def _send(self, connection: Connection, raw: bytes) -> int:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, _, keep_alive = await connection.send(raw)
        except BaseException:
            connection.close()
            raise
        if keep_alive:
            self.idle.append(connection)
        else:
            connection.close()
        return status

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


async def closed_loop(run: Run, port: int, requests, clients: int, warmup: float, seconds: float) -> None:
    pool = Pool(port)
    started = time.perf_counter()
    measure_from, until = started + warmup, started + warmup + seconds

    async def client() -> None:
        while (sent_at := time.perf_counter()) < until:
            try:
                status = await pool.request(next(requests))
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as error:
                if sent_at >= measure_from:
                    run.fail(type(error).__name__)
                continue
            if sent_at >= measure_from:
                run.record(status, time.perf_counter() - sent_at)

    await asyncio.gather(*(client() for _ in range(clients)))
    run.seconds = seconds
    pool.close()


async def open_loop(run: Run, port: int, requests, rate: float, warmup: float, seconds: float,
                    max_outstanding: int = 2000) -> None:
    """Send at fixed intervals whatever the answers do; latency from the scheduled time."""
    pool = Pool(port)
    pending: set[asyncio.Task] = set()
    started = time.perf_counter() + 0.01
    measure_from = started + warmup
    total = int((warmup + seconds) * rate)

    async def one(scheduled: float, raw: bytes) -> None:
        try:
            status = await pool.request(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as error:
            if scheduled >= measure_from:
                run.fail(type(error).__name__)
            return
        if scheduled >= measure_from:
            run.record(status, time.perf_counter() - scheduled)

    for i in range(total):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= max_outstanding:
            run.fail("not sent: too many outstanding")  # this far behind: count it lost, do not pile on
            continue
        task = asyncio.create_task(one(scheduled, next(requests)))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending, timeout=REQUEST_TIMEOUT + 1)
    run.seconds = seconds
    pool.close()


def measure(server: Gunicorn, db_name: str, run: Run, coroutine) -> Run:
    before = cpu_snapshot(server, db_name)
    wall = time.perf_counter()
    asyncio.run(coroutine)
    wall = time.perf_counter() - wall
    after = cpu_snapshot(server, db_name)
    # Share of one core over the whole run (warm-up included: CPU is only sampled at the ends);
    # a process that exits during the run takes its CPU time with it, hence the floor at 0.
    run.cpu = {name: max(0.0, after[name] - before[name]) / wall * 100 for name in after}
    return run


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

    from crm.services.preview_queue import FLUSH_FLAG, FLUSH_LOCK, QUEUE_KEY, redis_client

    redis_client().delete(QUEUE_KEY, FLUSH_FLAG, FLUSH_LOCK)
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
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    args = parser.parse_args()
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


def main() -> None:
    args = parse_args()
    raise_on_sigterm()
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    port = free_port()
    env = bench_environment(bench_url, port, events_per_minute=1_000_000)
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
            print("In this process, same WSGI application and middleware, one request at a time "
                  "(CPU time: little changed by other work on the machine):")
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
              f"ratio {tracking_rate / hello_rate if hello_rate else 0:.2f}  tracking p99 {p99:7.1f} ms")
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


if __name__ == "__main__":
    main()
