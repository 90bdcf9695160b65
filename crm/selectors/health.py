"""Is every connection working? One check per connection, each saying what is wrong and how to
fix it: the database and its migrations, the queue broker, the worker, the schedules, Twilio (and
each sender number's incoming-message webhook), Stripe (key, webhook endpoint, signing secret),
SerpAPI, the LLM API, PUBLIC_BASE_URL and free disk. Used by `manage.py doctor`, the admin's
System -> Health page and /health/ready. Provider calls are cheap reads, cached for a few minutes
unless asked fresh."""

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_q.models import Task

from crm.integrations.health_probes import (
    ProbeResult,
    http_get_probe,
    redis_ping_probe,
    stripe_webhook_endpoints_probe,
    twilio_numbers_probe,
)
from crm.models import CompanySettings
from crm.services.billing.stripe_events import HANDLERS as STRIPE_HANDLERS
from crm.services.schedules import schedules_missing

OK, FAIL, OFF = "ok", "fail", "off"  # off: not configured, the offline stand-in is in use
HEARTBEAT_WINDOW = timedelta(minutes=2)
PROBE_TIMEOUT_SECONDS = 5.0
PROBE_CACHE_SECONDS = 300
TWILIO_SMS_PATH = "/webhooks/twilio/sms/"
STRIPE_WEBHOOK_PATH = "/webhooks/stripe/"
WORKER_FIX = "Start the worker: `python manage.py qcluster` (the Procfile's `worker` line); it runs the schedules."


@dataclass(frozen=True)
class Check:
    key: str
    title: str
    status: str
    detail: str
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _cached(key: str, fresh: bool, probe: Callable[[], ProbeResult]) -> ProbeResult:
    """A provider call's result, reused for PROBE_CACHE_SECONDS unless `fresh`."""
    if not fresh:
        hit = cache.get(f"health:{key}")
        if hit is not None:
            return ProbeResult(**hit)
    result = probe()
    cache.set(f"health:{key}", asdict(result), PROBE_CACHE_SECONDS)
    return result


def check_database(fresh: bool = True) -> Check:
    title = "Database and migrations"
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:  # any driver error means the same thing to the reader
        return Check("database", title, FAIL, f"The database cannot be reached ({type(exc).__name__}: {exc}).",
                     "Check DATABASE_URL and that PostgreSQL is running and accepts this user.")
    if plan:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in plan[:5])
        return Check("database", title, FAIL, f"{len(plan)} migration(s) not applied: {names}.",
                     "Run `python manage.py migrate`.")
    return Check("database", title, OK, f"{connection.vendor} reachable; every migration applied.")


def check_broker(fresh: bool = True) -> Check:
    title = "Task queue broker"
    if not settings.REDIS_URL:
        return Check("broker", title, OK, "The database is the broker (django-q2 ORM broker; no REDIS_URL).")
    result = redis_ping_probe(url=settings.REDIS_URL, timeout=PROBE_TIMEOUT_SECONDS)
    if result.ok:
        return Check("broker", title, OK, "Redis answers PING.")
    return Check("broker", title, FAIL, result.error,
                 "Start Redis, or set REDIS_URL to the Redis the worker uses (redis://host:6379/0).")


def check_worker(fresh: bool = True) -> Check:
    title = "Worker heartbeat"
    last = Task.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    if last is None:
        return Check("worker", title, FAIL, "No task has ever finished: the worker has not run.", WORKER_FIX)
    age = timezone.now() - last
    if age > HEARTBEAT_WINDOW:
        minutes = int(age.total_seconds() // 60)
        return Check("worker", title, FAIL,
                     f"No task has finished for {minutes} minutes (last at {last:%Y-%m-%d %H:%M} UTC): "
                     "the worker is stopped or stuck.", WORKER_FIX)
    return Check("worker", title, OK, f"A task finished {int(age.total_seconds())} s ago.")


def check_schedules(fresh: bool = True) -> Check:
    title = "Schedules"
    missing = schedules_missing()
    if missing:
        return Check("schedules", title, FAIL, f"Missing schedule(s): {', '.join(missing)}. Without them hot "
                     "leads, sequences, sends and webhook retries never run.", "Run `python manage.py sync_schedules`.")
    return Check("schedules", title, OK, "Every schedule the product needs is present.")


def _sender_numbers() -> list[str]:
    return [line.strip() for line in CompanySettings.load().sender_numbers.splitlines() if line.strip()]


def check_twilio(fresh: bool = False) -> Check:
    title = "Twilio (SMS)"
    if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
        return Check("twilio", title, OFF, "Not configured: texts go to the local outbox and are not delivered.",
                     "To send for real, set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.")
    result = _cached("twilio", fresh, lambda: twilio_numbers_probe(
        account_sid=settings.TWILIO_ACCOUNT_SID, auth_token=settings.TWILIO_AUTH_TOKEN,
        api_base_url=settings.TWILIO_API_BASE_URL, timeout=PROBE_TIMEOUT_SECONDS))
    if result.status == 401:
        return Check("twilio", title, FAIL, f"Twilio refused the credentials ({result.error}).",
                     "Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to the Account SID and Auth Token in the Twilio "
                     "console (Account -> API keys & tokens); a rotated token must be updated here too.")
    if not result.ok:
        return Check("twilio", title, FAIL, result.error,
                     "Check the server's internet access and TWILIO_API_BASE_URL (empty for api.twilio.com).")
    expected = public_url(TWILIO_SMS_PATH)
    owned = {number["phone_number"]: number for number in result.items}
    senders = _sender_numbers()
    if not senders:
        return Check("twilio", title, FAIL, "Credentials work, but no sender number is set.",
                     "Add your Twilio numbers under Company settings -> Sender numbers (one per line, +1...).")
    problems = []
    for sender in senders:
        number = owned.get(sender)
        if number is None:
            problems.append(f"{sender} is not a number of this Twilio account")
        elif number["sms_url"] != expected or number["sms_method"].upper() not in ("", "POST"):
            problems.append(f"{sender} sends incoming texts to {number['sms_url'] or 'nowhere'}"
                            f" ({number['sms_method'] or 'no method'})")
    if problems:
        return Check("twilio", title, FAIL, "; ".join(problems) + f". Replies and STOPs would be lost.",
                     f"In the Twilio console, Phone Numbers -> each number -> Messaging, set “A message comes in” "
                     f"to Webhook, HTTP POST, {expected} (PUBLIC_BASE_URL must be this server's public address); "
                     "remove numbers that are not yours from Company settings -> Sender numbers.")
    return Check("twilio", title, OK, f"Credentials work; {len(senders)} sender number(s) post replies to {expected}.")


def check_stripe(fresh: bool = False) -> Check:
    title = "Stripe (payments)"
    if not settings.STRIPE_SECRET_KEY:
        return Check("stripe", title, OFF, "Not configured: payments are recorded by hand in the admin.",
                     "To take payments, set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.")
    result = _cached("stripe", fresh, lambda: stripe_webhook_endpoints_probe(
        secret_key=settings.STRIPE_SECRET_KEY, api_base_url=settings.STRIPE_API_BASE_URL,
        timeout=PROBE_TIMEOUT_SECONDS))
    if result.status == 401:
        return Check("stripe", title, FAIL, f"Stripe refused the secret key ({result.error}).",
                     "Set STRIPE_SECRET_KEY to a secret key (sk_live_... or sk_test_...) from the Stripe Dashboard "
                     "-> Developers -> API keys; a restricted key needs read access to webhook endpoints.")
    if not result.ok:
        return Check("stripe", title, FAIL, result.error,
                     "Check the server's internet access and STRIPE_API_BASE_URL (empty for api.stripe.com).")
    expected = public_url(STRIPE_WEBHOOK_PATH)
    endpoint = next((e for e in result.items if e["url"] == expected), None)
    wanted = sorted(STRIPE_HANDLERS)
    add_fix = (f"In the Stripe Dashboard -> Developers -> Webhooks, add an endpoint with URL {expected} for the "
               f"events {', '.join(wanted)}, then set STRIPE_WEBHOOK_SECRET to its signing secret (whsec_...).")
    if endpoint is None:
        found = ", ".join(e["url"] for e in result.items) or "none"
        return Check("stripe", title, FAIL, f"No webhook endpoint points at {expected} (endpoints: {found}): "
                     "payments would never reach the CRM.", add_fix)
    if endpoint["status"] != "enabled":
        return Check("stripe", title, FAIL, f"The webhook endpoint {expected} is {endpoint['status']}.",
                     "Enable it in the Stripe Dashboard -> Developers -> Webhooks.")
    events = set(endpoint["enabled_events"])
    missing = [kind for kind in wanted if kind not in events and "*" not in events]
    if missing:
        return Check("stripe", title, FAIL, f"The webhook endpoint does not send: {', '.join(missing)}.",
                     f"Add those events to the endpoint {expected} in the Stripe Dashboard.")
    if not settings.STRIPE_WEBHOOK_SECRET.startswith("whsec_"):
        return Check("stripe", title, FAIL, "STRIPE_WEBHOOK_SECRET is " + (
            "not set" if not settings.STRIPE_WEBHOOK_SECRET else "not a signing secret (whsec_...)") +
            ": every Stripe webhook would be refused as forged.",
            f"Copy the signing secret of the endpoint {expected} (Dashboard -> Webhooks -> Reveal) into "
            "STRIPE_WEBHOOK_SECRET.")
    return Check("stripe", title, OK, f"Key works; the endpoint {expected} is enabled with every event we handle.")


def check_serpapi(fresh: bool = False) -> Check:
    title = "SerpAPI (enrichment)"
    if not settings.SERPAPI_API_KEY:
        return Check("serpapi", title, OFF, "Not configured: leads are enriched from the bundled offline data.",
                     "To look businesses up, set SERPAPI_API_KEY.")
    result = _cached("serpapi", fresh, lambda: http_get_probe(
        url=settings.SERPAPI_BASE_URL.rstrip("/") + "/account.json", params={"api_key": settings.SERPAPI_API_KEY},
        timeout=PROBE_TIMEOUT_SECONDS))
    if result.ok:
        return Check("serpapi", title, OK, "The key works (account endpoint, no search spent).")
    fix = ("Set SERPAPI_API_KEY to the key on serpapi.com -> Dashboard." if result.status in (401, 403)
           else "Check the server's internet access and SERPAPI_BASE_URL.")
    return Check("serpapi", title, FAIL, result.error, fix)


def check_llm(fresh: bool = False) -> Check:
    title = "LLM API (first lines)"
    if not settings.LLM_API_KEY:
        return Check("llm", title, OFF, "Not configured: first lines come from the deterministic templates.",
                     "To write first lines with a model, set LLM_API_KEY (and LLM_BASE_URL, LLM_MODEL).")
    result = _cached("llm", fresh, lambda: http_get_probe(
        url=settings.LLM_BASE_URL.rstrip("/") + "/models", headers={"Authorization": f"Bearer {settings.LLM_API_KEY}"},
        timeout=PROBE_TIMEOUT_SECONDS))
    if result.ok:
        return Check("llm", title, OK, f"The key works at {settings.LLM_BASE_URL} (model list, no tokens spent).")
    fix = ("Set LLM_API_KEY to a key valid at LLM_BASE_URL." if result.status in (401, 403)
           else "Check LLM_BASE_URL (an OpenAI-compatible /v1 address) and the server's internet access.")
    return Check("llm", title, FAIL, result.error, fix)


def check_public_url(fresh: bool = False) -> Check:
    title = "PUBLIC_BASE_URL"
    url = public_url("/health/live")
    result = _cached("public_url", fresh, lambda: http_get_probe(url=url, timeout=PROBE_TIMEOUT_SECONDS))
    if result.ok:
        return Check("public_url", title, OK, f"{settings.PUBLIC_BASE_URL} reaches this server.")
    return Check("public_url", title, FAIL,
                 f"{result.error}: preview links, Twilio and Stripe use this address and would not reach the CRM.",
                 "Set PUBLIC_BASE_URL to the https:// address the world uses for this server, and check DNS, "
                 "the proxy and the firewall.")


def check_disk(fresh: bool = True) -> Check:
    title = "Free disk for uploads"
    folder = Path(settings.MEDIA_ROOT)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    needed = settings.HEALTH_MIN_FREE_DISK_MB * 1_048_576
    detail = f"{free / 1_073_741_824:.1f} GB free at {folder}"
    if free < needed:
        return Check("disk", title, FAIL, f"Only {detail}; imports need {settings.HEALTH_MIN_FREE_DISK_MB} MB.",
                     "Free space on that disk (old import files live under MEDIA_ROOT/imports/) or move MEDIA_ROOT.")
    return Check("disk", title, OK, detail + ".")


CHECKS: tuple[Callable[..., Check], ...] = (
    check_database, check_broker, check_worker, check_schedules, check_twilio, check_stripe, check_serpapi,
    check_llm, check_public_url, check_disk,
)


def _run(check: Callable[..., Check], fresh: bool) -> Check:
    try:
        return check(fresh=fresh)
    except DatabaseError as exc:  # an unmigrated or unreachable database: say so, do not crash
        key = check.__name__.removeprefix("check_")
        return Check(key, key.replace("_", " ").capitalize(), FAIL,
                     f"Could not be checked: the database failed ({type(exc).__name__}: {exc}).",
                     "Fix the database check first (`python manage.py migrate`).")


def health_report(*, fresh: bool = False) -> list[Check]:
    """Every check, in order; provider calls reused from the last few minutes unless `fresh`."""
    return [_run(check, fresh) for check in CHECKS]


def check_database_reachable() -> Check:
    """One round trip (for load balancers, every few seconds: no migration graph)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means the same thing to the reader
        return Check("database", "Database", FAIL, f"The database cannot be reached ({type(exc).__name__}).",
                     "Check DATABASE_URL and that PostgreSQL is running.")
    return Check("database", "Database", OK, "reachable")


def readiness() -> list[Check]:
    """What a load balancer needs before sending traffic: the database and the broker."""
    return [check_database_reachable(), check_broker()]
