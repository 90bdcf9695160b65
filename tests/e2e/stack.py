"""The production stack the end-to-end walk runs on, started for the test and always stopped.

A release directory (bench/prodstack.py), deployed as the Procfile says: `collectstatic`, the
Procfile's `release` (migrate, sync_schedules), then its `web` (gunicorn) and `worker`
(`manage.py qcluster`, Redis broker on database 11, emptied before and after) under
settings.production with test-only secrets; PostgreSQL is a fresh database on DATABASE_URL's
server. The providers are local fakes in this process, reached through the real SDKs and
clients: Twilio SMS and Voice behind one base URL, Stripe (its pay page posts signed webhooks),
SerpAPI, Serper and the chat API (bench/enrich_pipeline.py's fake handlers).

The leads are placed, through the coordinates the fake SerpAPI gives, where it is nearest
14:00 now (bench/texting.py's `afternoon_zone`, read from the database server's clock): texts
(quiet hours 09:00-20:00 local) and calls (08:00-21:00 local) are allowed whatever the hour the
test runs at.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench import prodstack
from enrich_pipeline import LLM_MODEL, chat_handler, serpapi_handler, serper_handler  # bench/, on the path
from fakes.http_server import FakeServer
from fakes.stripe_server import FakeStripeServer
from fakes.twilio_router import TwilioRouter
from fakes.twilio_server import FakeTwilioServer
from fakes.twilio_voice_server import FakeTwilioVoiceServer
from texting import afternoon_zone

REDIS_URL = "redis://127.0.0.1:6379/11"  # the e2e test's own Redis database
ACCOUNT, TWILIO_TOKEN = "AC" + "e2" * 16, "e2e-twilio-auth-token"
STRIPE_KEY, STRIPE_WEBHOOK_SECRET = "sk_test_e2e_0123456789", "whsec_e2e_0123456789"
SENDER, REP_PHONE = "+15125550100", "+15125550111"
# A city in each zone afternoon_zone may pick (timezonefinder puts each in that zone).
ZONE_PLACES = {
    "Pacific/Honolulu": (21.3069, -157.8583), "America/Anchorage": (61.2181, -149.9003),
    "America/Los_Angeles": (34.0522, -118.2437), "America/Denver": (39.7392, -104.9903),
    "America/Chicago": (41.8781, -87.6298), "America/New_York": (40.7128, -74.0060),
    "America/Sao_Paulo": (-23.5505, -46.6333), "Atlantic/Azores": (37.7412, -25.6756),
    "Europe/London": (51.5074, -0.1278), "Europe/Berlin": (52.52, 13.405), "Europe/Athens": (37.9838, 23.7275),
    "Asia/Dubai": (25.2048, 55.2708), "Asia/Karachi": (24.8607, 67.0011), "Asia/Dhaka": (23.8103, 90.4125),
    "Asia/Bangkok": (13.7563, 100.5018), "Asia/Shanghai": (31.2304, 121.4737), "Asia/Tokyo": (35.6762, 139.6503),
    "Australia/Sydney": (-33.8688, 151.2093), "Pacific/Noumea": (-22.2758, 166.458),
    "Pacific/Auckland": (-36.8485, 174.7633),
}
LEAD_NAMES = ["Harbor Plumbing 1", "Maple Dental 2", "Summit Roofing 3"]


@dataclass
class Stack:
    release: Path
    env: dict[str, str]
    web: prodstack.Web
    zone: str
    leads: list[dict]  # the CSV's rows, with the place the fake SerpAPI answers for each
    users: dict
    password: str
    sms: FakeTwilioServer
    voice: FakeTwilioVoiceServer
    stripe: FakeStripeServer
    providers: dict[str, FakeServer] = field(default_factory=dict)
    cluster: prodstack.Cluster | None = None

    @property
    def url(self) -> str:
        return self.web.url

    def csv(self) -> bytes:
        rows = ["Business Name,Phone,First Name,City,State,Zip"]
        rows += [f"{lead['business_name']},{lead['phone']},{lead['first_name']},{lead['city']},{lead['state']},"
                 f"{lead['postcode']}" for lead in self.leads]
        return ("\n".join(rows) + "\n").encode()

    def logs(self) -> str:
        worker = prodstack.tail_text(self.cluster.log) if self.cluster else ""
        return f"--- web (last lines) ---\n{self.web.tail()}\n--- worker (last lines) ---\n{worker}"


def database_now(database_url: str) -> float:
    """The database server's clock (the stack's), as a Unix time: this process's may be travelled."""
    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        return float(conn.execute("SELECT extract(epoch FROM now())").fetchone()[0])


def csv_leads(zone: str) -> list[dict]:
    latitude, longitude = ZONE_PLACES[zone]
    return [{"business_name": name, "phone": f"+1512200{i:04d}", "first_name": first, "city": "Austin",
             "state": "TX", "postcode": "78701", "category": "", "latitude": latitude, "longitude": longitude}
            for i, (name, first) in enumerate(zip(LEAD_NAMES, ["Ana", "Ben", "Cleo"]), start=1)]


@contextmanager
def production_stack(tmp_path: Path, database_url: str):
    now = database_now(database_url)
    offset = now - time.time()
    zone = afternoon_zone(datetime.fromtimestamp(now, UTC))
    leads = csv_leads(zone)
    port = prodstack.free_port()
    base = f"http://127.0.0.1:{port}"
    password = "E2e-" + secrets.token_urlsafe(12)
    with ExitStack() as stack:
        sms = stack.enter_context(FakeTwilioServer(account_sid=ACCOUNT, auth_token=TWILIO_TOKEN,
                                                   callback_statuses=("sent", "delivered")))
        voice = stack.enter_context(FakeTwilioVoiceServer(account_sid=ACCOUNT, auth_token=TWILIO_TOKEN,
                                                          talk_seconds=42, step_delay=0.2))
        twilio = stack.enter_context(TwilioRouter(sms, voice))
        stripe = stack.enter_context(FakeStripeServer(api_key=STRIPE_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET,
                                                      webhook_url=f"{base}/webhooks/stripe/",
                                                      clock=lambda: time.time() + offset))
        by_name = {lead["business_name"]: lead for lead in leads}
        providers = {"serpapi": serpapi_handler(by_name, 0.02), "serper": serper_handler(0.02),
                     "llm": chat_handler(0.02)}
        providers = {name: stack.enter_context(FakeServer(default=handler)) for name, handler in providers.items()}
        env = prodstack.production_env(
            database_url=database_url, redis_url=REDIS_URL, public_base_url=base, Q_WORKERS="2",
            TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TWILIO_TOKEN, TWILIO_API_BASE_URL=twilio.base_url,
            STRIPE_SECRET_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=STRIPE_WEBHOOK_SECRET,
            STRIPE_API_BASE_URL=stripe.base_url,
            SERPAPI_API_KEY="e2e-serpapi", SERPAPI_BASE_URL=providers["serpapi"].base_url,
            SERPER_API_KEY="e2e-serper", SERPER_BASE_URL=providers["serper"].base_url,
            LLM_API_KEY="e2e-llm", LLM_BASE_URL=providers["llm"].base_url + "/v1", LLM_MODEL=LLM_MODEL)
        release = prodstack.release_copy(tmp_path / "release")
        prodstack.flush_redis(REDIS_URL)
        stack.callback(prodstack.flush_redis, REDIS_URL)
        prodstack.deploy(release, env)
        seeded = subprocess.run(
            [sys.executable, "-m", "tests.e2e.seed", "--sender", SENDER, "--rep-phone", REP_PHONE], cwd=release,
            env={**env, "E2E_PASSWORD": password}, capture_output=True, text=True, timeout=300)
        if seeded.returncode:
            raise RuntimeError(f"seeding failed:\n{seeded.stdout}{seeded.stderr}")
        users = json.loads(seeded.stdout.strip().splitlines()[-1])
        web = stack.enter_context(prodstack.Web(release, env, port, tmp_path))
        result = Stack(release=release, env=env, web=web, zone=zone, leads=leads, users=users, password=password,
                       sms=sms, voice=voice, stripe=stripe, providers=providers)
        result.cluster = prodstack.Cluster(env, "e2e", project_dir=release)
        stack.callback(result.cluster.log.unlink, missing_ok=True)
        result.cluster.start()
        stack.callback(prodstack.stop_cluster, result.cluster.proc)
        yield result
