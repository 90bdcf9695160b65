"""Shared by the benchmarks that time admin pages in-process (changelist, rep_queue, dashboard,
revenue): Django set up on the bench database, logged-in clients, a stock Unfold list as the
same-run reference, round-robin timing with query counts, the figures table and an EXPLAIN
report of one request's queries.

Django is imported inside the functions: a script parses its arguments and calls
`start_django` before anything touches Django's settings."""

import os
import sys
import time
import warnings
from pathlib import Path

from benchdb import drop_database, percentile, prepare_database, server_urls

PROJECT_DIR = Path(__file__).resolve().parent.parent
STOCK_PREFIX = "bench-stock-admin/"


def start_django(db_name: str, rows: int, fresh: bool) -> tuple[str, bool]:
    """Point the settings at the bench database (created when missing), set Django up on
    `settings.local` with DEBUG off (what production runs) and migrate it. Returns the
    maintenance URL (for `finish`) and whether the data must be (re)loaded."""
    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.local")
    os.environ.setdefault("DJANGO_DEBUG", "false")
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), db_name)
    must_load = prepare_database(maintenance_url, bench_url, db_name, rows, fresh)
    os.environ["DATABASE_URL"] = bench_url

    import django
    from django.conf import settings
    from django.core.management import call_command

    # The benchmarks never serve static files; WhiteNoise's "no STATIC_ROOT yet" is noise.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    db = settings.DATABASES["default"]
    print(f"Settings {os.environ['DJANGO_SETTINGS_MODULE']}, DEBUG={settings.DEBUG}, database {db['NAME']!r} "
          f"on {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}, time zone {settings.TIME_ZONE}.")
    call_command("migrate", verbosity=0, interactive=False)
    return maintenance_url, must_load


def rebuild(maintenance_url: str, db_name: str, rows: int) -> None:
    """Drop and re-create the bench database under a running Django, and migrate it."""
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    prepare_database(maintenance_url, os.environ["DATABASE_URL"], db_name, rows, fresh=True)
    call_command("migrate", verbosity=0, interactive=False)


def finish(maintenance_url: str, db_name: str, drop: bool) -> None:
    if drop:
        from django.db import connections

        connections.close_all()
        drop_database(maintenance_url, db_name)


def install_stock_admin(model, list_display: list[str], scoped: bool = False) -> str:
    """The same-run reference: a stock Unfold ModelAdmin over the same rows (the given columns,
    Django's paginator, no filters) on the project's site class holding every other model as the
    product's site does, so the two pages differ only by that ModelAdmin. It lives on a URLconf
    of the benchmark's own (the product's URLs are untouched). `scoped` limits it to the viewer's
    rows as the product's access rules do. Returns the stock changelist's URL."""
    import importlib
    import types

    from django.conf import settings
    from django.contrib import admin
    from django.urls import path
    from unfold.admin import ModelAdmin

    from crm.admin.base import ScopedQuerysetMixin

    bases = (ScopedQuerysetMixin, ModelAdmin) if scoped else (ModelAdmin,)
    stock_admin = type("StockAdmin", bases, {"list_display": list_display})
    site = type(admin.site)(name="bench_stock")
    for registered, model_admin in admin.site._registry.items():
        if registered is not model:
            site.register(registered, type(model_admin))
    site.register(model, stock_admin)
    urls = types.ModuleType("bench_stock_urls")
    urls.urlpatterns = [path(STOCK_PREFIX, site.urls), *importlib.import_module(settings.ROOT_URLCONF).urlpatterns]
    sys.modules[urls.__name__] = urls
    # Set before the first request; the resolver reads ROOT_URLCONF per request.
    settings.ROOT_URLCONF = urls.__name__
    return f"/{STOCK_PREFIX}{model._meta.app_label}/{model._meta.model_name}/"


def client_for(username: str):
    from django.test import Client

    from crm.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def measure(plans: list[dict], requests: int, warmup: int, check) -> list[dict]:
    """Time every plan ({"name", "user", "url", ...}) round robin, one request of each per round,
    so a burst of other work on the machine falls on ours and the reference alike. `check(plan,
    response)` exits on a wrong page (timed or not). Adds to each plan: timings (ms), queries (the
    most in one request), sql (one request's statements) and last (the last response)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    clients = {}
    for plan in plans:
        plan.update(client=clients.setdefault(plan["user"], client_for(plan["user"])), timings=[], queries=0)
        for _ in range(warmup):
            check(plan, plan["client"].get(plan["url"]))
    for _ in range(requests):
        for plan in plans:
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = plan["client"].get(plan["url"])
                elapsed_ms = (time.perf_counter() - started) * 1000
            check(plan, response)
            plan["timings"].append(elapsed_ms)
            plan["queries"] = max(plan["queries"], len(captured.captured_queries))
            plan["sql"] = [q["sql"] for q in captured.captured_queries]
            plan["last"] = response
    return plans


def p50(plan: dict) -> float:
    return percentile(plan["timings"], 50)


def print_table(plans: list[dict], ratio_to=None) -> None:
    """One row per plan: n, p50, p95, max, queries; with `ratio_to(plan)` giving a reference plan
    (or None), also the p50 over the reference's."""
    width = max(26, *(len(p["name"]) for p in plans))
    print(f"\n{'scenario':<{width}} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'queries':>8}"
          + (f" {'/ ref p50':>10}" if ratio_to else ""))
    for plan in plans:
        t = plan["timings"]
        reference = ratio_to(plan) if ratio_to else None
        ratio = f" {p50(plan) / p50(reference):10.2f}" if reference is not None and reference is not plan else ""
        print(f"{plan['name']:<{width}} {len(t):>4} {p50(plan):>8.1f} {percentile(t, 95):>8.1f} {max(t):>8.1f} "
              f"{plan['queries']:>8}{ratio}")


def plan_summary(node: dict) -> list[str]:
    """Scan nodes of a plan, e.g. 'Index Only Scan lead_rep_created on crm_lead'."""
    found = []
    if "Scan" in node.get("Node Type", ""):
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" {node['Index Name']}"
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
        found.append(label)
    for child in node.get("Plans", []):
        found.extend(plan_summary(child))
    return found


def explain(plans: list[dict], table: str) -> None:
    """EXPLAIN ANALYZE the queries on `table` of one request per plan (execution + planning ms,
    scans used); sum up the rest."""
    import json

    from django.db import connection

    print(f"\nEXPLAIN ANALYZE of one request per scenario, queries on {table} (execution + planning ms, scans):")
    for plan in plans:
        rows, other_ms, other_count, not_explained = [], 0.0, 0, 0
        with connection.cursor() as cursor:
            for statement in plan.get("sql", []):
                if not statement.lstrip().upper().startswith("SELECT"):
                    not_explained += 1  # e.g. the paginator's own EXPLAIN for its estimate
                    continue
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}")
                result = cursor.fetchone()[0]
                result = (json.loads(result) if isinstance(result, str) else result)[0]
                if f'"{table}"' not in statement.split(" WHERE ")[0].split(" ORDER BY ")[0]:
                    other_ms += result["Execution Time"]
                    other_count += 1
                    continue
                scans = ", ".join(dict.fromkeys(plan_summary(result["Plan"])))
                rows.append((result["Execution Time"], result["Planning Time"], scans, " ".join(statement.split())))
        print(f"  {plan['name']}")
        for exec_ms, plan_ms, scans, statement in rows:
            print(f"    {exec_ms:6.2f} + {plan_ms:5.2f}  {scans}\n                    {statement[:110]}...")
        print(f"    {other_ms:6.2f}          {other_count} other queries (session, user, roles, "
              f"permissions, filter choices); {not_explained} not explained")
