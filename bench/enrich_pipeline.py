"""Benchmark the lead pipeline (enrich -> personalise) through the django-q2 cluster against
local fake providers that answer in 50 ms, under the shared per-provider rate limit.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/enrich_pipeline.py --leads 1000 --rate 50

It creates its own database (`crm_bench_pipeline`) on that server and loads --leads leads
(city and state, enrichment pending, AI first lines switched on). In this process it starts
three fake providers on 127.0.0.1 (SerpAPI google_maps, Serper search, an OpenAI-compatible
chat API), each answering after --delay seconds and recording when every request arrived.
It starts `manage.py qcluster` (--workers workers, its own process group, always stopped at
the end) with the real clients pointed at the fakes, every provider limited to --rate
requests per second, PROVIDER_CONCURRENCY=--concurrency threads per task and REDIS_URL set
(so the Redis broker and the Redis limiter; --no-redis: the ORM broker and the database
limiter). Then it queues the enrichment with crm.enqueue.enrichment_enqueue (chunk
tasks; each queues its personalise task) and waits until every lead has its first line.

Figures, per provider: requests, their window after the first enqueue, achieved rate
(requests after the first / time from the first to the last), efficiency (achieved / limit)
and the most requests in any 1 s window (the limit holds across workers and threads when
that is at most 5% over --rate). The headline efficiency is the lowest provider's: each
provider has its own limit, and each must be kept at it while it has work.

Last line: `pipeline: N leads in S s; X leads/s; limit R req/s; efficiency E`, S from the
first enqueue to the last first line saved. Goal (issue 4): E >= 0.8. The exit status is 1
when a lead was not enriched and personalised by the model, or the limit did not hold.
`--smoke` (CI): 100 leads.
"""

import argparse
import bisect
import json
import logging
import os
import re
import signal
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

from benchdb import drop_database, prepare_database, server_urls
from cluster import Cluster

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from fakes.http_server import FakeResponse, FakeServer  # noqa: E402

GOAL = 0.8
WINDOW_TOLERANCE = 1.05  # the most requests in any 1 s window may exceed the limit by this much
LLM_MODEL = "bench-model"

# (city, state, ZIP, latitude, longitude)
CITIES = [
    ("Austin", "TX", "78701", 30.2672, -97.7431), ("Denver", "CO", "80202", 39.7392, -104.9903),
    ("Seattle", "WA", "98101", 47.6062, -122.3321), ("Boston", "MA", "02108", 42.3601, -71.0589),
    ("Miami", "FL", "33130", 25.7617, -80.1918), ("Chicago", "IL", "60601", 41.8781, -87.6298),
    ("Phoenix", "AZ", "85004", 33.4484, -112.0740), ("Portland", "OR", "97204", 45.5152, -122.6784),
]
PREFIXES = ["Harbor", "Maple", "Summit", "Riverside", "Oak Street", "Liberty", "Golden", "Cedar"]
KINDS = [("Plumbing", "plumber"), ("Dental", "dentist"), ("Coffee", "cafe"), ("Auto Repair", "auto repair"),
         ("Roofing", "roofer"), ("Bakery", "bakery"), ("Fitness", "gym"), ("Cleaning", "cleaning service")]
NAME_IN_QUERY = re.compile(r"^(.*?\b\d+)\b")  # bench names end in the lead's number


def bench_leads(count: int) -> list[dict]:
    leads = []
    for i in range(1, count + 1):
        city, state, zip_code, lat, lng = CITIES[i % len(CITIES)]
        kind, category = KINDS[(i // len(CITIES)) % len(KINDS)]
        leads.append({
            "business_name": f"{PREFIXES[i % len(PREFIXES)]} {kind} {i}", "phone": f"+1512{2000000 + i}",
            "city": city, "state": state, "postcode": zip_code, "category": category,
            "latitude": lat, "longitude": lng,
        })
    return leads


# --- fake providers (answering in this process, recording arrival times) --------------------

def serpapi_handler(by_name: dict[str, dict], delay: float):
    def answer(request) -> FakeResponse:
        match = NAME_IN_QUERY.match(request.query.get("q", ""))
        lead = by_name.get(match.group(1)) if match else None
        if lead is None:
            return FakeResponse(body={"error": "Google hasn't returned any results for this query."}, delay=delay)
        place = {
            "position": 1, "title": lead["business_name"], "type": lead["category"],
            "address": f"100 Main St, {lead['city']}, {lead['state']} {lead['postcode']}",
            "phone": f"(512) {lead['phone'][5:8]}-{lead['phone'][8:]}",
            "gps_coordinates": {"latitude": lead["latitude"], "longitude": lead["longitude"]},
            "rating": 4.7, "reviews": 128, "operating_hours": {"monday": "8 AM–6 PM", "tuesday": "8 AM–6 PM"},
        }
        decoy = {"position": 2, "title": "Unrelated Business", "address": "1 Elm St"}
        return FakeResponse(body={"search_metadata": {"status": "Success"}, "local_results": [place, decoy]},
                            delay=delay)
    return answer


def serper_handler(delay: float):
    def answer(request) -> FakeResponse:
        query = (request.json or {}).get("q", "")
        organic = [
            {"title": query, "link": "https://example.com/a", "snippet": f"{query}: hours, reviews and directions."},
            {"title": query, "link": "https://example.com/b", "snippet": f"Customers talk about {query}."},
        ]
        return FakeResponse(body={"organic": organic}, delay=delay)
    return answer


def chat_handler(delay: float):
    def answer(request) -> FakeResponse:
        messages = (request.json or {}).get("messages") or [{}]
        facts = dict(re.findall(r"^- (Business|City): (.+)$", str(messages[-1].get("content", "")), re.M))
        name, city = facts.get("Business", "Your business"), facts.get("City", "town")
        line = f"{name} in {city} deserves a website as good as its reviews."
        return FakeResponse(body={
            "id": "chatcmpl-bench", "object": "chat.completion", "model": LLM_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": line}, "finish_reason": "stop"}],
        }, delay=delay)
    return answer


# --- figures -----------------------------------------------------------------------------

def max_in_window(times: list[float], seconds: float = 1.0) -> int:
    """The most arrival times in any half-open window [t, t + seconds)."""
    return max((bisect.bisect_left(times, t + seconds) - i for i, t in enumerate(times)), default=0)


def provider_figures(times: list[float], rate: float, t0: float) -> dict:
    times = sorted(times)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    achieved = (len(times) - 1) / span if span > 0 else 0.0
    return {"requests": len(times), "first": times[0] - t0 if times else 0.0, "last": times[-1] - t0 if times else 0.0,
            "achieved": achieved, "efficiency": achieved / rate, "max_1s": max_in_window(times),
            "max_5s_rate": max_in_window(times, 5.0) / 5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second, every provider")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds each fake provider takes to answer")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS")
    parser.add_argument("--concurrency", type=int, default=4, help="PROVIDER_CONCURRENCY (threads per task)")
    parser.add_argument("--chunk", type=int, default=0,
                        help="leads per enrichment_enqueue call (0: one call; it splits by PIPELINE_CHUNK)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13",
                        help="broker and limiter: a Redis database no one else uses (a FLUSHDB resets the limiter)")
    parser.add_argument("--no-redis", action="store_true", help="ORM broker and database limiter instead")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds of pipeline")
    parser.add_argument("--db-name", default="crm_bench_pipeline")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    parser.add_argument("--save-times", type=Path, help="write each provider's request times (JSON) here")
    parser.add_argument("--smoke", action="store_true", help="CI size: 100 leads")
    args = parser.parse_args()
    if args.smoke:
        args.leads = 100

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the cluster is stopped too
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)

    leads = bench_leads(args.leads)
    by_name = {lead["business_name"]: lead for lead in leads}
    fakes = {
        "serpapi": FakeServer(default=serpapi_handler(by_name, args.delay)).start(),
        "serper": FakeServer(default=serper_handler(args.delay)).start(),
        "llm": FakeServer(default=chat_handler(args.delay)).start(),
    }
    redis_url = "" if args.no_redis else args.redis_url
    rate = f"{args.rate:g}"
    os.environ.update({
        "DATABASE_URL": bench_url, "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "settings.local"),
        "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "false"),
        "SERPAPI_API_KEY": "bench-serpapi-key", "SERPER_API_KEY": "bench-serper-key", "LLM_API_KEY": "bench-llm-key",
        "SERPAPI_BASE_URL": fakes["serpapi"].base_url, "SERPER_BASE_URL": fakes["serper"].base_url,
        "LLM_BASE_URL": fakes["llm"].base_url + "/v1", "LLM_MODEL": LLM_MODEL,
        "SERPAPI_RATE_PER_SECOND": rate, "SERPER_RATE_PER_SECOND": rate, "LLM_RATE_PER_SECOND": rate,
        "Q_WORKERS": str(args.workers), "PROVIDER_CONCURRENCY": str(args.concurrency),
    })

    import django

    logging.getLogger("django-q").setLevel(logging.WARNING)  # not a line per queued task
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections
    from django.db.models import Count, Max, Q

    from crm.models import CompanySettings, Lead, ProviderThrottle
    from crm.enqueue import PIPELINE_CHUNK, enrichment_enqueue

    call_command("migrate", verbosity=0, interactive=False)
    company = CompanySettings.load()
    company.personalisation_enabled, company.auto_enroll_sequence = True, None
    company.save()
    Lead.objects.bulk_create(
        [Lead(**{k: v for k, v in lead.items() if k not in ("latitude", "longitude")}) for lead in leads],
        batch_size=1000,
    )
    if redis_url:
        import redis

        store = redis.Redis.from_url(redis_url)
        store.delete(f"django_q:{settings.Q_CLUSTER['name']}:q", *store.keys("crm:throttle:*"))
        others = [key for key in store.scan_iter(count=1000) if not key.startswith(b"django_q:")]
        if others:
            print(f"WARNING: {redis_url} holds {len(others)} keys of another program (e.g. {others[0]!r}): "
                  "if it flushes that database mid-run, the limiter restarts and bursts. Use --redis-url.")
    ProviderThrottle.objects.all().delete()
    ids = list(Lead.objects.order_by("pk").values_list("pk", flat=True))
    chunk = args.chunk or len(ids)
    print(f"Loaded {len(ids):,} leads; fakes answer in {args.delay * 1000:.0f} ms; limit {rate} req/s per provider; "
          f"{args.workers} workers x {args.concurrency} threads; {min(chunk, PIPELINE_CHUNK)} leads per task; "
          f"broker and limiter: {'Redis ' + redis_url if redis_url else 'ORM and database row'}.")

    with Cluster(dict(os.environ), "pipeline") as cluster:
        started_wall, started = time.time(), time.monotonic()
        tasks = sum(enrichment_enqueue(ids[i:i + chunk]) for i in range(0, len(ids), chunk))
        print(f"Queued {tasks} enrichment tasks.")
        pending = Q(first_line_status=Lead.PipelineStatus.PENDING) & ~Q(enrichment_status=Lead.PipelineStatus.FAILED)
        while True:
            left = Lead.objects.filter(pending).count()
            if left == 0:
                break
            cluster.check()
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"timed out after {args.timeout:g} s with {left} leads still pending")
            time.sleep(0.5)
        last_saved = Lead.objects.aggregate(last=Max("updated_at"))["last"]
    for fake in fakes.values():
        fake.stop()

    elapsed = (last_saved - datetime.fromtimestamp(started_wall, UTC)).total_seconds()
    counts = Lead.objects.aggregate(
        enriched=Count("pk", filter=Q(enrichment_status="done", enrichment_data__source="serpapi")),
        failed=Count("pk", filter=Q(enrichment_status="failed")),
        by_llm=Count("pk", filter=Q(first_line_status="done", first_line_source=f"llm:{LLM_MODEL}")),
        by_template=Count("pk", filter=Q(first_line_source="template")),
        zoned=Count("pk", filter=Q(time_zone_source="coordinates")),
    )
    sample = Lead.objects.order_by("pk").values_list("first_line", flat=True).first()
    figures = {name: provider_figures([r.received_at for r in fake.requests], args.rate, started)
               for name, fake in fakes.items()}
    if args.save_times:
        args.save_times.write_text(json.dumps(
            {name: [r.received_at - started for r in fake.requests] for name, fake in fakes.items()}))

    print(f"\n{'provider':<9} {'requests':>8} {'first s':>8} {'last s':>7} {'req/s':>7} {'efficiency':>10} "
          f"{'max in 1 s':>10} {'busiest 5 s':>11}")
    for name, f in figures.items():
        print(f"{name:<9} {f['requests']:>8,} {f['first']:>8.2f} {f['last']:>7.2f} {f['achieved']:>7.1f} "
              f"{f['efficiency']:>10.2f} {f['max_1s']:>10} {f['max_5s_rate']:>9.1f}/s")
    print(f"\nleads: {counts['enriched']:,} enriched by serpapi ({counts['failed']} failed), "
          f"{counts['zoned']:,} zoned from coordinates, {counts['by_llm']:,} first lines from llm:{LLM_MODEL}, "
          f"{counts['by_template']} from templates; e.g. {sample!r}")
    problems = []
    if counts["enriched"] != len(ids) or counts["by_llm"] != len(ids):
        problems.append("not every lead was enriched by serpapi and given a first line by the model")
    ceiling = args.rate * WINDOW_TOLERANCE
    for name, f in figures.items():
        if f["requests"] != len(ids):
            problems.append(f"{name}: {f['requests']} requests for {len(ids)} leads")
        if f["max_1s"] > ceiling:
            problems.append(f"{name}: {f['max_1s']} requests in one second, over {ceiling:.1f}")
    held = all(f["max_1s"] <= ceiling for f in figures.values())
    print(f"shared limit: the most requests in any 1 s window is {max(f['max_1s'] for f in figures.values())} "
          f"(limit {rate}, +5% allowed: {ceiling:.1f}): {'held' if held else 'EXCEEDED'}; busiest 5 s: "
          f"{max(f['max_5s_rate'] for f in figures.values()):.1f}/s"
          + ("" if held else " (a thread that wakes late for its slot sends together with the next ones)"))

    lowest = min(figures, key=lambda name: figures[name]["efficiency"])
    efficiency = figures[lowest]["efficiency"]
    leads_per_second = len(ids) / elapsed
    print(f"efficiency: the lowest provider's ({lowest}) achieved rate over the limit, from its first to its last "
          f"request; end to end, {leads_per_second:.1f} leads/s is {leads_per_second / args.rate:.2f} of the "
          f"{rate} leads/s the limits allow (one request to each provider per lead)")
    print(f"Goal efficiency >= {GOAL}: {'met' if efficiency >= GOAL else 'NOT met'}.")
    if args.drop:
        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    if problems:
        print("problems:\n  " + "\n  ".join(problems))
    print(f"pipeline: {len(ids)} leads in {elapsed:.1f} s; {leads_per_second:.1f} leads/s; limit {rate} req/s; "
          f"efficiency {efficiency:.2f}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
