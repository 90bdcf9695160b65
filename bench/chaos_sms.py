"""Chaos run of the send engine: real worker processes killed mid-send, STOPs at random moments,
a fake Twilio whose status callbacks race its own API answers; then every text is counted.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/chaos_sms.py

PostgreSQL (own database `crm_bench_chaos`), Redis broker (db 14, emptied), gunicorn serving the
webhooks, `manage.py qcluster` (2 workers) sending through the real twilio SDK to a local fake
that answers in 50-300 ms and posts signed "sent" and "delivered" callbacks back to the app,
30% of them before its API answer returns. N texts are planned (a one-step sequence, one
lead each) across 5 numbers at 20 texts/s per number; the worker is SIGKILLed K times at random
moments and restarted; STOPs are posted as signed inbound webhooks at random moments. When the
queue has drained and the reconciler has settled what the kills left in flight, it counts, from
the fake's own log and the database:

- after_stop: texts the fake accepted for a lead after that lead's STOP had been answered;
- duplicates: texts accepted more than once for the same lead (one step each);
- lost: planned texts neither sent once nor ended with a reason (failed, cancelled, stopped),
  texts left queued or sending, and texts the fake accepted that the database calls unsent;
- callbacks_lost: callbacks the app answered but never applied (stored and processed).

Last line: `chaos: planned=N sent=S after_stop=0 duplicates=0 lost=0 callbacks_lost=0 kills=K`;
the exit status is 1 when any of those four is not 0. `--smoke` (CI): 200 texts, 1 kill, 10 STOPs.
"""

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

from benchdb import drop_database, prepare_database, server_urls
from cluster import Cluster
from httpload import PROJECT_DIR, Gunicorn, bench_environment, free_port, raise_on_sigterm, setup_django

sys.path.insert(0, str(PROJECT_DIR))

from fakes.twilio_server import FakeTwilioServer  # noqa: E402

NUMBERS = [f"+1512555{n:04d}" for n in range(100, 105)]
ACCOUNT_SID, AUTH_TOKEN = "AC" + "c" * 32, "chaos-auth-token"
# Zones tried for the leads: the one where it is nearest mid-afternoon now, so the run works at any hour.
ZONES = ["Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver", "America/Chicago",
         "America/New_York", "America/Sao_Paulo", "Atlantic/Azores", "Europe/London", "Europe/Berlin",
         "Europe/Athens", "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai",
         "Asia/Tokyo", "Australia/Sydney", "Pacific/Noumea", "Pacific/Auckland"]


def afternoon_zone(now: datetime) -> str:
    return min(ZONES, key=lambda zone: abs(now.astimezone(ZoneInfo(zone)).hour + now.minute / 60 - 14))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0, help="texts per second per number")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--stops", type=int, default=50)
    parser.add_argument("--smoke", action="store_true", help="CI size: 200 texts, 1 kill, 10 STOPs")
    parser.add_argument("--timeout", type=float, default=600, help="give up settling after this many seconds")
    parser.add_argument("--db-name", default="crm_bench_chaos")
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    args = parser.parse_args()
    if args.smoke:
        args.texts, args.kills, args.stops = 200, 1, 10
    return args


def seed(texts: int) -> tuple[list[str], str]:
    from django.core.management import call_command
    from django.utils import timezone

    from crm.models import CompanySettings, Enrollment, Lead, MessageTemplate, Sequence, SequenceStep

    company = CompanySettings.load()
    company.sender_numbers, company.auto_enroll_sequence = "\n".join(NUMBERS), None
    company.save()
    zone = afternoon_zone(timezone.now())
    template = MessageTemplate.objects.create(name="Chaos", body="Hi {business_name}, we built you a site: {preview_url}")
    sequence = Sequence.objects.create(name="Chaos")
    step = SequenceStep.objects.create(sequence=sequence, order=1, template=template)
    leads = Lead.objects.bulk_create([
        Lead(business_name=f"Chaos Plumbing {i}", phone=f"+1737{3000000 + i}", consent_source="chaos bench",
             consent_at=timezone.now(), time_zone=zone, time_zone_source="manual", first_line="Hello.")
        for i in range(texts)])
    Enrollment.objects.bulk_create([Enrollment(lead=lead, sequence=sequence, next_step=step,
                                               next_run_at=timezone.now()) for lead in leads])
    call_command("sync_schedules", verbosity=0)
    return [lead.phone for lead in leads], zone


def post_stops(port: int, phones: list[str], span: float, results: list) -> None:
    """Signed inbound STOPs at random moments over `span` seconds; (phone, answered at, status)."""
    import httpx
    from twilio.request_validator import RequestValidator

    url = f"http://127.0.0.1:{port}/webhooks/twilio/sms/"
    moments = sorted(random.uniform(0, span) for _ in phones)
    started = time.monotonic()
    for i, (phone, moment) in enumerate(zip(phones, moments)):
        time.sleep(max(0.0, moment - (time.monotonic() - started)))
        params = {"MessageSid": f"SMchaosstop{i:021d}", "AccountSid": ACCOUNT_SID, "From": phone,
                  "To": NUMBERS[0], "Body": "STOP"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        try:
            status = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=60).status_code
        except httpx.HTTPError:
            status = 0
        results.append((phone, time.time(), status))


def settled() -> tuple[bool, str]:
    from crm.models import Enrollment, Message, WebhookEvent

    in_flight = Message.objects.filter(direction="out", status__in=["queued", "sending"]).count()
    waiting = Enrollment.objects.filter(status="active", next_run_at__isnull=True).count()
    unprocessed = WebhookEvent.objects.filter(processed_at__isnull=True).count()
    return (in_flight == 0 and waiting == 0 and unprocessed == 0,
            f"{in_flight} texts queued or sending, {waiting} steps waiting, {unprocessed} webhooks unprocessed")


def count(fake: FakeTwilioServer, phones: list[str], stops: list) -> dict:
    from crm.models import Enrollment, Message, WebhookEvent

    accepted = [m for m in fake.messages]
    per_lead = Counter(m.to for m in accepted)
    duplicates = sum(n - 1 for n in per_lead.values() if n > 1)
    stopped_at = {phone: at for phone, at, status in stops if status == 200}
    after_stop = sum(1 for m in accepted if m.to in stopped_at and m.date_created.timestamp() > stopped_at[m.to])
    messages = {m["lead__phone"]: m for m in Message.objects.filter(direction="out").values(
        "lead__phone", "status", "provider_sid", "error_message")}
    enrollments = {e["lead__phone"]: e for e in Enrollment.objects.values("lead__phone", "status", "stop_reason")}
    lost, ended = [], Counter()
    for phone in phones:
        message, enrollment = messages.get(phone), enrollments[phone]
        if message and message["status"] in ("sent", "delivered", "undelivered") and per_lead[phone] == 1:
            ended["sent"] += 1
        elif message and message["status"] in ("failed", "canceled") and message["error_message"] \
                and per_lead[phone] == 0:
            ended[message["status"]] += 1
        elif message is None and enrollment["status"] == "stopped" and enrollment["stop_reason"]:
            ended["stopped before planned"] += 1
        else:
            lost.append((phone, message, enrollment, per_lead[phone]))
    sids = {m.sid for m in accepted}
    answered = [(sid, status) for sid, status, code in fake.callbacks if code == 200]
    events = {e.event_id: e for e in WebhookEvent.objects.filter(source="twilio_status")}
    callbacks_lost = sum(1 for sid, status in answered
                         if f"{sid}:{status}" not in events or events[f"{sid}:{status}"].processed_at is None
                         or events[f"{sid}:{status}"].error.startswith("gave up"))
    callbacks_lost += sum(1 for sid, status, code in fake.callbacks if code != 200)
    delivered_sids = {sid for sid, status in answered if status == "delivered"}
    not_delivered = Message.objects.filter(provider_sid__in=delivered_sids).exclude(status="delivered").count()
    return {"accepted": len(accepted), "sent": len(sids), "duplicates": duplicates, "after_stop": after_stop,
            "lost": len(lost), "lost_examples": lost[:5], "ended": dict(ended),
            "callbacks": len(fake.callbacks), "callbacks_lost": callbacks_lost + not_delivered,
            "stops": len(stopped_at)}


def main() -> None:
    args = parse_args()
    raise_on_sigterm()
    maintenance_url, bench_url = server_urls(os.environ.get("DATABASE_URL", ""), args.db_name)
    prepare_database(maintenance_url, bench_url, args.db_name, rows=-1, fresh=True)
    fake = FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, answer_delay=(0.05, 0.3),
                            callback_statuses=("sent", "delivered"), early_callbacks=0.3).start()
    port = free_port()
    env = {**bench_environment(bench_url, port), "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_API_BASE_URL": fake.base_url, "SMS_RATE_PER_NUMBER": f"{args.rate:g}", "Q_WORKERS": "2",
           "SMS_SENDERS": "2", "SMS_SENDER_THREADS": "8"}
    setup_django(env)
    phones, zone = seed(args.texts)
    from django.db import connections

    from crm.services.messaging.dispatch import dispatch_due

    span = args.texts / (len(NUMBERS) * args.rate)  # seconds of planned slots
    print(f"{args.texts:,} texts over {len(NUMBERS)} numbers at {args.rate:g}/s each ({span:.0f} s of slots); "
          f"leads in {zone}; fake Twilio answers in 50-300 ms, 30% of callbacks before its answer; "
          f"{args.kills} kill(s), {args.stops} STOP(s).")
    stops: list = []
    kills = 0
    with Gunicorn(port, env, "gthread", workers=2, threads=8), Cluster({**os.environ, **env}, "chaos") as cluster:
        started = time.monotonic()
        planned = dispatch_due()
        print(f"Planned: {planned.queued:,} queued in {time.monotonic() - started:.1f} s "
              f"({planned.deferred} deferred to later slots).")
        stop_thread = threading.Thread(target=post_stops, daemon=True,
                                       args=(port, random.sample(phones, args.stops), span, stops))
        stop_thread.start()
        for moment in sorted(random.uniform(0.5, max(1.0, span * 0.8)) for _ in range(args.kills)):
            time.sleep(max(0.0, moment - (time.monotonic() - started)))
            cluster.kill_and_restart()
            kills += 1
            print(f"  SIGKILL {kills} at {time.monotonic() - started:.1f} s; worker restarted")
        stop_thread.join()
        shown = time.monotonic()
        while True:
            done, state = settled()
            if done:
                break
            if time.monotonic() - started > args.timeout:
                raise RuntimeError(f"not settled after {args.timeout:g} s: {state}")
            if time.monotonic() - shown >= 15:  # progress, so a slow catch-up after a kill shows
                shown = time.monotonic()
                print(f"  {shown - started:.0f} s: {len(fake.messages):,} accepted by the fake; {state}")
            time.sleep(1)
        time.sleep(1)  # callbacks still on their way from the fake's threads
        while not settled()[0]:
            time.sleep(1)
        elapsed = time.monotonic() - started
    fake.stop()
    figures = count(fake, phones, stops)
    print(f"Settled after {elapsed:.0f} s. Fake Twilio accepted {figures['accepted']:,} texts and posted "
          f"{figures['callbacks']:,} callbacks; {figures['stops']} STOPs answered.")
    print(f"Each planned text ended: {figures['ended']}")
    if figures["lost_examples"]:
        print("Lost (first 5):", *figures["lost_examples"], sep="\n  ")
    if args.drop:
        connections.close_all()
        drop_database(maintenance_url, args.db_name)
    print(f"chaos: planned={args.texts} sent={figures['sent']} after_stop={figures['after_stop']} "
          f"duplicates={figures['duplicates']} lost={figures['lost']} callbacks_lost={figures['callbacks_lost']} "
          f"kills={kills}")
    if figures["after_stop"] or figures["duplicates"] or figures["lost"] or figures["callbacks_lost"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
