"""The server side of the HTTP benchmarks: the project under gunicorn (its own process group,
always stopped), CPU accounting from /proc, and a small asyncio HTTP/1.1 load generator that
costs less CPU than an HTTP library on the same two cores."""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from benchdb import percentile

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
REDIS_URL = "redis://127.0.0.1:6379/14"
REQUEST_TIMEOUT = 10.0


# --- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_environment(bench_url: str, port: int, events_per_minute: int | None = None,
                      redis_url: str = REDIS_URL) -> dict[str, str]:
    """What settings.production needs, with bench values; shared by this process and gunicorn."""
    env = {
        "DJANGO_SETTINGS_MODULE": "settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": bench_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
    }
    if events_per_minute is not None:
        # All load comes from 127.0.0.1: raise the per-address limit with the per-link one.
        env["TRACKING_EVENTS_PER_MINUTE"] = env["TRACKING_EVENTS_PER_ADDRESS"] = str(events_per_minute)
    return env


def setup_django(env: dict[str, str]) -> None:
    """Set this process up with the server's settings, migrate, and empty the bench's Redis
    database (its cache, broker and queues)."""
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
    redis.Redis.from_url(env["REDIS_URL"]).flushdb()


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
