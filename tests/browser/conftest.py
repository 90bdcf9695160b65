"""Real Chromium through Playwright's sync API, against pytest-django's live server.

The browser is /usr/bin/chromium. When it is missing we install it (apt as root, else
Playwright's own download); when that is impossible the tests fail loudly: never skipped.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
DESKTOP_CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/130.0.0.0 Safari/537.36")


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return f"$ {' '.join(command)} -> {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"


def _chromium_executable() -> str | None:
    """/usr/bin/chromium, installing it if needed; None means Playwright's bundled Chromium.
    One pytest-xdist worker installs at a time (apt holds one dpkg lock); the others wait, then
    find it installed."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "crm-chromium-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _chromium_install()


def _chromium_install() -> str | None:
    if CHROMIUM.exists():
        return str(CHROMIUM)
    log = []
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        log.append(_run(["apt-get", "update"]))
        log.append(_run(["apt-get", "install", "-y", "chromium"]))
        if CHROMIUM.exists():
            return str(CHROMIUM)
    log.append(_run([sys.executable, "-m", "playwright", "install", "chromium"]))
    if "-> 0" in log[-1]:
        return None
    pytest.fail("No Chromium for the browser tests. Install it with `apt-get install chromium` (as root) or "
                "`python -m playwright install chromium`.\n" + "\n".join(log), pytrace=False)


class _AppGate:
    """Wraps the live server's WSGI app: on SQLite runs one request at a time, and always
    knows when the server last worked, so a test can wait for beacons to land."""

    def __init__(self, app, serial: bool):
        self.app, self.serial = app, serial
        self._serial_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.busy, self.last_done = 0, time.monotonic()

    def __call__(self, environ, start_response):
        with self._count_lock:
            self.busy += 1
        try:
            if self.serial:
                with self._serial_lock:
                    return self.app(environ, start_response)
            return self.app(environ, start_response)
        finally:
            with self._count_lock:
                self.busy -= 1
                self.last_done = time.monotonic()

    def wait_quiet(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.busy and time.monotonic() - self.last_done >= quiet:
                return
            time.sleep(0.05)


@pytest.fixture(scope="session")
def live_server(request, django_db_setup, django_db_blocker):
    """pytest-django's live server, started after the test database exists.

    Its own fixture is session-scoped and so set up before the database: on SQLite the server
    would miss the in-memory database's connection it must share with the test, open its own,
    and the two would lock each other out ("database table is locked"). That one shared
    connection cannot serve several requests at once either, so on SQLite requests take turns
    (sockets are still read by Django's threads, so an idle keep-alive never blocks the server)."""
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    with django_db_blocker.unblock():
        server = LiveServer(addr, start=False)
        serial = bool(server.thread.connections_override)
        static_handler = server.thread.static_handler
        gates = []

        def gated(app):
            gates.append(_AppGate(static_handler(app), serial))
            return gates[-1]

        server.thread.static_handler = gated
        server.start()
        server.gate = gates[0]
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import Error, sync_playwright

    executable = _chromium_executable()
    # Playwright's sync API keeps an event loop in this thread; Django would then refuse
    # ORM calls from the test body as "async". The test body is synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        try:
            launched = playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        except Error as exc:
            pytest.fail(f"Chromium ({executable or 'Playwright bundled'}) did not start: {exc}", pytrace=False)
        yield launched
        launched.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_context(browser, live_server):
    """Browser contexts for one test; closing them, wait until the pages' last beacons have
    been handled, so nothing writes while the test database is emptied."""
    contexts = []

    def make(**kwargs):
        contexts.append(browser.new_context(**kwargs))
        return contexts[-1]

    yield make
    for context in contexts:
        context.close()
    live_server.gate.wait_quiet()


@pytest.fixture
def visitor_context(new_context):
    """A person's phone or laptop: a normal Chrome user agent (HeadlessChrome counts as a bot)."""
    return new_context(user_agent=DESKTOP_CHROME_UA)


@pytest.fixture
def rep_context(new_context):
    """A rep's desktop: wider than 1280 px, where Unfold shows the sidebar."""
    return new_context(viewport={"width": 1440, "height": 900})


def read_db(read, until=lambda value: True, timeout: float = 5.0):
    """Run a read from the test's thread while the live server writes.

    On SQLite the shared in-memory test database may answer "table is locked" for a moment
    while the server's transaction is open: retry. With `until`, poll until the value
    satisfies it (beacons land after the page is gone)."""
    from django.db import OperationalError

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = read()
            if until(value) or time.monotonic() > deadline:
                return value
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


@pytest.fixture
def db_read():
    return read_db
