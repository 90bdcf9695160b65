"""The production stack's tests (marker `production_stack`): the README's deploy recipe and the
end-to-end walk, each on the processes a deploy runs. They need PostgreSQL and Redis, so they run
only when DATABASE_URL names a PostgreSQL server: .ci/run runs them in their own step
(`-m production_stack`, after the two suite passes, which leave them out with
`-m 'not production_stack'`). A plain `make test` on SQLite leaves them out too and says so at
the end of its report, so it never reads as having run them."""

import os
import re
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.browser.conftest import browser  # noqa: F401 - the same Chromium as the browser tests

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql"}
_LEFT_OUT: list[str] = []


def postgres_server_url() -> str:
    """DATABASE_URL when it names a PostgreSQL server, else ""."""
    url = os.environ.get("DATABASE_URL", "")
    return url if urlsplit(url).scheme in POSTGRES_SCHEMES else ""


def pytest_collection_modifyitems(config, items):
    if postgres_server_url():
        return
    stack = [item for item in items if item.get_closest_marker("production_stack")]
    if stack:
        config.hook.pytest_deselected(items=stack)
        items[:] = [item for item in items if not item.get_closest_marker("production_stack")]
        _LEFT_OUT.extend(item.nodeid for item in stack)


def pytest_terminal_summary(terminalreporter):
    if _LEFT_OUT:
        terminalreporter.write_line(
            f"{len(_LEFT_OUT)} production-stack test(s) not collected: they need DATABASE_URL=postgres://... "
            "(CI runs them: .ci/run, step 'The production stack').", yellow=True)


def sibling_database_url(suffix: str) -> tuple[str, str, str]:
    """(maintenance URL, URL of database `<DATABASE_URL's name>_<suffix>`, its name) on the server
    DATABASE_URL names: each production-stack test owns one database there, never another's."""
    parts = urlsplit(postgres_server_url())
    base = parts.path.lstrip("/") or "crm"
    name = re.sub(r"\W", "_", f"{base}_{suffix}")[:63]
    maintenance = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    return maintenance, urlunsplit(("postgres", parts.netloc, "/" + name, parts.query, "")), name


def recreate_database(maintenance_url: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture
def server_database():
    """`make(suffix)` -> URL of a fresh database on DATABASE_URL's server, dropped afterwards."""
    made = []

    def make(suffix: str) -> str:
        maintenance, url, name = sibling_database_url(suffix)
        recreate_database(maintenance, name)
        made.append((maintenance, name))
        return url

    yield make
    for maintenance, name in made:
        recreate_database(maintenance, name, drop_only=True)
