"""The product as it is deployed, for the end-to-end test (tests/e2e/) and the soak (bench/soak.py).

- `release_copy`: a release directory, the repository's files as a deploy checks them out (no
  .venv, .git, .env, collected static files, uploads or databases), so `collectstatic` fills the
  release's own `staticfiles/` (served by WhiteNoise) and uploads land in its `media/`.
- `production_env`: `settings.production` with test-only secrets and hosts, and none of this
  machine's own product variables (a DATABASE_URL from the test run must not leak in).
- `PrivatePostgres`: a PostgreSQL cluster of our own (initdb in a temp dir, a free port, its
  socket in that dir) that may be restarted at will; the shared server is never touched.
- `Web`: the Procfile's web command (gunicorn) with an access log, whose 5xx answers are counted.
- The worker is bench/cluster.py's `Cluster`, started in the release.
"""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PROJECT_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
for _folder in (PROJECT_DIR, BENCH_DIR):  # the benchmarks import each other by their plain names
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

from cluster import Cluster, kill_cluster, stop_cluster  # noqa: E402
from cluster import tail as tail_text  # noqa: E402

__all__ = ["Cluster", "PrivatePostgres", "Web", "deploy", "flush_redis", "free_port", "kill_cluster", "manage",
           "procfile", "production_env", "release_copy", "setup_django", "stop_cluster", "tail_text", "wait_until"]

# Local state a deploy never ships: never copied into a release.
NOT_RELEASED = {".git", ".venv", ".env", "staticfiles", "media", "__pycache__", ".pytest_cache", ".hypothesis",
                ".run", "node_modules"}
NOT_RELEASED_PATTERNS = ("db.sqlite3*", "*.log", "*.pyc")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, check, timeout: float, every: float = 0.25):
    """Poll `check()` until it returns something truthy (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)


def release_copy(dest: Path) -> Path:
    """Copy the repository's files into `dest` (which must not exist), as a deploy would."""
    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {name for name in names if name in NOT_RELEASED
                   or any(fnmatch.fnmatch(name, pattern) for pattern in NOT_RELEASED_PATTERNS)}
        if Path(folder) == PROJECT_DIR / "bench":
            skipped.add("out")
        return skipped

    shutil.copytree(PROJECT_DIR, dest, ignore=ignore)
    return dest


def procfile(release: Path = PROJECT_DIR) -> dict[str, str]:
    """The Procfile's process types and their commands."""
    entries = {}
    for line in (release / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            entries[name.strip()] = command.strip()
    return entries


def product_variables() -> set[str]:
    """Every environment variable the product reads (settings/env.py is its only reader)."""
    source = (PROJECT_DIR / "settings" / "env.py").read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source)) | {"DJANGO_SETTINGS_MODULE"}


def production_env(*, database_url: str, redis_url: str, public_base_url: str, **extra: str) -> dict[str, str]:
    """The environment of every process of the stack: settings.production, test-only values."""
    env = {name: value for name, value in os.environ.items() if name not in product_variables()}
    env.update({
        "DJANGO_SETTINGS_MODULE": "settings.production",
        "DJANGO_SECRET_KEY": "test-only-" + secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PUBLIC_BASE_URL": public_base_url,
        # Plain HTTP on 127.0.0.1, no proxy in front: no redirect to HTTPS, REMOTE_ADDR is the client.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "TRUSTED_PROXY_COUNT": "0",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    })
    env.update({name: str(value) for name, value in extra.items()})
    return env


def setup_django(env: dict[str, str], release: Path) -> None:
    """Make this process one of the stack's (the same settings, database and secrets) for seeding
    and counting, running the release's code: this checkout may change under a long run."""
    import warnings

    assert "crm" not in sys.modules, "set Django up before anything imports the product"
    sys.path.insert(0, str(release))
    import django

    os.environ.update({name: value for name, value in env.items() if name in product_variables()})
    warnings.filterwarnings("ignore", message="No directory at")  # WhiteNoise, for the static files it won't serve
    django.setup()


def manage(release: Path, env: dict[str, str], *args: str, timeout: float = 300) -> str:
    """`python manage.py <args>` in the release; its output, or RuntimeError with it."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=release, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}"
                           f"{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def deploy(release: Path, env: dict[str, str], timeout: float = 600) -> None:
    """What a platform runs before starting a release: `collectstatic` and the Procfile's
    `release` command (migrate, sync_schedules), side by side (they touch different things)."""
    steps = [subprocess.Popen(["bash", "-c", command], cwd=release, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for command in ("python manage.py collectstatic --noinput -v 0", procfile(release)["release"])]
    for step in steps:
        output, _ = step.communicate(timeout=timeout)
        if step.returncode:
            raise RuntimeError(f"{step.args[-1]} exited {step.returncode}:\n{output[-3000:]}")


def flush_redis(url: str) -> None:
    """Empty the one Redis database `url` names (never the others)."""
    import redis

    redis.Redis.from_url(url).flushdb()


class PrivatePostgres:
    """A PostgreSQL cluster of our own: initdb into a new temp folder (`root`), started on a free
    port of 127.0.0.1 with its unix socket in `root`. Restart it at will; `stop()` keeps its
    files, `close()` deletes them. Run as root, the server runs as the `postgres` user
    (PostgreSQL refuses root), so `root` is made directly under the temp dir, which it can reach."""

    def __init__(self, port: int | None = None):
        import tempfile

        self.root, self.port = Path(tempfile.mkdtemp(prefix="crm-postgres-")), port or free_port()
        self.data, self.log = self.root / "data", self.root / "postgres.log"
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
        self.bin = versions[-1] if versions else Path(shutil.which("pg_ctl") or "pg_ctl").parent

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stdout}{done.stderr}\n{log}")

    def _options(self) -> str:
        # fsync off: a test cluster survives a server restart, not a power cut, and runs faster.
        return (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections=200")

    def start(self) -> PrivatePostgres:
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres", "postgres")
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
                  "-w", "-t", "60", "start")
        return self

    def restart(self, down_seconds: float = 0.0) -> None:
        """A fast shutdown (every connection dropped, as a failover or an upgrade does), `down_seconds`
        with no server at all, then a start."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        time.sleep(down_seconds)
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
                  "-w", "-t", "60", "start")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url().replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (if it runs), keeping its files."""
        if (self.data / "postmaster.pid").exists():
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
            except RuntimeError:
                pass

    def close(self) -> None:
        """Stop the server and delete its files."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


class Web:
    """The Procfile's `web` command in the release, on `port` (its ${PORT}), with an access log
    (`<status> <method> <path>` per line) and its output kept; stopped (the whole process
    group) on exit. `extra_args` are appended (e.g. more workers or threads)."""

    ACCESS_FORMAT = "%(s)s %(m)s %(U)s"

    def __init__(self, release: Path, env: dict[str, str], port: int, log_dir: Path, extra_args: str = ""):
        self.release, self.port = release, port
        self.env = {**env, "PORT": str(port)}
        self.access_log, self.output = log_dir / "web-access.log", log_dir / "web-output.log"
        self.command = (f"exec {procfile(release)['web']} --access-logfile {self.access_log} "
                        f"--access-logformat '{self.ACCESS_FORMAT}' {extra_args}")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> Web:
        self.process = subprocess.Popen(["bash", "-c", self.command], cwd=self.release, env=self.env,
                                        start_new_session=True, stdout=open(self.output, "wb"),
                                        stderr=subprocess.STDOUT)

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.process.returncode}:\n{self.tail()}")
            try:
                return httpx.get(f"{self.url}/health/live", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("gunicorn answering /health/live", answers, timeout)
        return self

    def tail(self, lines: int = 40) -> str:
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def statuses(self) -> list[tuple[int, str, str]]:
        """(status, method, path) of every request answered so far."""
        found = []
        if self.access_log.exists():
            for line in self.access_log.read_text(errors="replace").splitlines():
                parts = line.split(" ", 2)
                if len(parts) == 3 and parts[0].isdigit():
                    found.append((int(parts[0]), parts[1], parts[2]))
        return found

    def errors_5xx(self) -> list[tuple[int, str, str]]:
        return [entry for entry in self.statuses() if entry[0] >= 500]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass

    def __enter__(self) -> Web:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
