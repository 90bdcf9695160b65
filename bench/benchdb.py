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


def sql_literal(value) -> str:
    """A Python default as SQL text, for the raw-SQL loaders below."""
    import json
    from decimal import Decimal

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return repr(value) if not isinstance(value, Decimal) else str(value)
    if isinstance(value, dict | list):
        return sql_literal(json.dumps(value)) + "::jsonb"
    return "'" + str(value).replace("'", "''") + "'"


def insert_select(model, given: dict[str, str], source: str) -> str:
    """`INSERT INTO <model's table> (every column) SELECT ... <source>` for a raw-SQL loader.

    `given` maps column names to SQL expressions. Every other NOT NULL column gets the model's
    default as a literal (timestamps: now()): raw SQL gets none of Django's Python defaults, so
    a NOT NULL column added by a later migration cannot break the loader. A NOT NULL column with
    no default, or a unique one, must be in `given`; the loader fails with its name otherwise.
    """
    from django.db import models

    unknown = set(given) - {f.column for f in model._meta.concrete_fields}
    if unknown:
        raise ValueError(f"{model._meta.db_table} has no column(s) {sorted(unknown)}")
    # Unique by the field's own flag or by a one-field UniqueConstraint: one literal would repeat.
    unique = {field.name for field in model._meta.concrete_fields if field.unique} | {
        constraint.fields[0] for constraint in model._meta.constraints
        if isinstance(constraint, models.UniqueConstraint) and len(constraint.fields) == 1 and not constraint.condition}
    columns, expressions = [], []
    for field in model._meta.concrete_fields:
        if field.column in given:
            expression = given[field.column]
        elif isinstance(field, models.AutoField) or field.null:
            continue
        elif isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
            expression = "now()"
        elif field.has_default() and field.name not in unique:
            expression = sql_literal(field.get_default())
        elif isinstance(field, models.CharField | models.TextField) and field.blank and field.name not in unique:
            expression = "''"
        else:
            raise ValueError(f"the loader must give {model._meta.db_table}.{field.column} (NOT NULL, no default)")
        columns.append(field.column)
        expressions.append(expression)
    return (f"INSERT INTO {model._meta.db_table} ({', '.join(columns)})\n"
            f"SELECT {', '.join(expressions)}\n{source}")
