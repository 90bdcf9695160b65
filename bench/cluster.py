"""The django-q2 cluster (`manage.py qcluster`) as the benchmarks run it: in its own process
group, so it can be stopped, or killed, whole."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
CLUSTER_START_TIMEOUT = 60
CLUSTER_STOP_GRACE = 10


def start_cluster(env: dict, log_path: Path, project_dir: Path = PROJECT_DIR) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, str(project_dir / "manage.py"), "qcluster"], cwd=project_dir, env=env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,  # its own process group
    )


def wait_for_cluster(proc: subprocess.Popen, log_path: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < CLUSTER_START_TIMEOUT:
        if proc.poll() is not None:
            raise RuntimeError(f"qcluster exited with code {proc.returncode}")
        if b"running." in log_path.read_bytes():
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"qcluster not running after {CLUSTER_START_TIMEOUT} s")


def stop_cluster(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (sentinel, workers, monitor, pusher), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=CLUSTER_STOP_GRACE)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # workers left behind by the sentinel, if any
    except ProcessLookupError:
        pass
    proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def kill_cluster(proc: subprocess.Popen) -> None:
    """SIGKILL to the whole group at once, as when a machine or a container dies."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Cluster:
    """`with Cluster(env, "label") as cluster:` starts qcluster and waits until it runs; on the way
    out it is stopped, and on a failure the log's last lines are printed (a RuntimeError ends the
    benchmark with "label: message"). `kill_and_restart()` is a SIGKILL of the whole group and a
    fresh start. `project_dir`: where manage.py is (a release directory; default this checkout)."""

    def __init__(self, env: dict, label: str, project_dir: Path = PROJECT_DIR):
        import tempfile

        self.env, self.label, self.project_dir = env, label, project_dir
        self.log = Path(tempfile.mkstemp(prefix=f"bench-{label}-qcluster-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Cluster":
        self.proc = start_cluster(self.env, self.log, self.project_dir)
        wait_for_cluster(self.proc, self.log)
        return self

    def kill_and_restart(self) -> None:
        kill_cluster(self.proc)
        self.start()

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"qcluster exited with code {self.proc.returncode}")

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self.proc is not None:
            stop_cluster(self.proc)
        if exc_type is not None:
            print(f"--- qcluster log (last lines) ---\n{tail(self.log)}", file=sys.stderr)
            if issubclass(exc_type, RuntimeError):
                sys.exit(f"{self.label}: {exc}")
