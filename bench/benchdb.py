"""Shared by the benchmarks: each owns a database on the PostgreSQL server DATABASE_URL names."""

import statistics
import sys
from urllib.parse import urlsplit, urlunsplit

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "psql"}


def server_urls(database_url: str, db_name: str) -> tuple[str, str]:
    """(URL of a database to run CREATE/DROP DATABASE from, URL of the bench database)."""
    parts = urlsplit(database_url)
    if parts.scheme not in POSTGRES_SCHEMES:
        sys.exit(
            "This benchmark needs PostgreSQL: set DATABASE_URL, e.g.\n"
            "  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres "
            ".venv/bin/python bench/<script>.py\n"
            f"(got {parts.scheme or 'nothing'!r}; the benchmark creates and uses its own "
            f"database {db_name!r} on that server)"
        )
    named_db = parts.path.lstrip("/")
    maintenance_db = "postgres" if named_db in ("", db_name) else named_db
    maintenance = urlunsplit(("postgresql", parts.netloc, "/" + maintenance_db, parts.query, ""))
    bench = urlunsplit(("postgres", parts.netloc, "/" + db_name, parts.query, ""))
    return maintenance, bench


def lead_count(bench_url: str) -> int | None:
    """Leads in the bench database, or None when the table is not there yet."""
    import psycopg

    with psycopg.connect(bench_url.replace("postgres://", "postgresql://", 1)) as conn:
        if conn.execute("SELECT to_regclass('crm_lead')").fetchone()[0] is None:
            return None
        return conn.execute("SELECT count(*) FROM crm_lead").fetchone()[0]


def prepare_database(maintenance_url: str, bench_url: str, db_name: str, rows: int, fresh: bool) -> bool:
    """Create the bench database if needed; True when its leads must be (re)loaded."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        if exists and not fresh:
            count = lead_count(bench_url)
            if count == rows:
                print(f"Reusing database {db_name!r}: {count:,} leads already loaded.")
                return False
            print(f"Database {db_name!r} holds {count if count is not None else 'no'} leads, "
                  f"not {rows:,}: rebuilding it.")
        if exists:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db_name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
        print(f"Created database {db_name!r}.")
    return True


def drop_database(maintenance_url: str, db_name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name)))
    print(f"Dropped database {db_name!r}.")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(pct) - 1]
