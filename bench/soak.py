"""Soak: the production stack under every kind of traffic at once, with failures, then everything counted.

    .venv/bin/python bench/soak.py             # 10 minutes of load
    .venv/bin/python bench/soak.py --smoke     # 1 minute (CI)

The stack is the one the end-to-end test uses (bench/prodstack.py): a release directory deployed
as the Procfile says (collectstatic, `release`), its `web` (gunicorn) and `worker` (qcluster,
Redis broker on database 9, emptied before and after) under settings.production, on a
PostgreSQL cluster of the soak's own (initdb in a temp dir, a free port), which it restarts;
DATABASE_URL is not used and the shared server is never touched. Twilio is the chaos fake
(fakes/twilio_server.py: answers in 50-300 ms, signed "sent" and "delivered" callbacks, 30% of
them before its answer). For --minutes, all at once:

- the dispatcher: one-step sequences whose steps come due evenly over the run (--texts-per-minute),
  paced over 5 numbers, sent by the worker's senders;
- tracking events on 20 other leads' previews (--views-per-second), queued in Redis, written by
  the worker;
- inbound texts: STOPs from 15% of the texted leads (bench/chaos_sms.py's signed STOPs) and
  replies from 10% (a fifth of them posted twice);
- Stripe events for --buyers-per-minute buyers, out of order and a quarter duplicated;
- the worker SIGKILLed and restarted at 30% and 70% of the run, PostgreSQL restarted at 50%
  (a fast shutdown and straight back up; `--pg-down-seconds N` keeps it down N seconds).

Then, once nothing is queued, sending or unprocessed (--settle-timeout), it counts
(bench/soak_load.py and chaos_sms.count): lost (a text neither sent once nor ended with a reason,
a callback not applied, a tracking event, inbound text or Stripe event answered but not stored
and processed, an effect missing), duplicates (a text accepted twice, an event stored twice, an
extra effect), after_stop (a text accepted after its lead's STOP was answered) and errors_5xx
(answers >= 500 in gunicorn's access log). Last line:
`soak: minutes=M events=N lost=0 duplicates=0 after_stop=0 errors_5xx=0`; exit 1 unless all
four are 0. `events`: tracking events, inbound texts and Stripe deliveries sent, texts accepted by
the fake and status callbacks it posted. `--smoke`: 1 minute. `--drop`: delete the cluster, release and logs at the end
(else they are kept, stopped, and their folder printed).
"""

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import prodstack
from chaos_sms import ACCOUNT_SID, AUTH_TOKEN, NUMBERS, post_stops
from chaos_sms import count as texts_count
from chaos_sms import settled as texts_settled
from httpload import raise_on_sigterm
from soak_load import Sent, inbound_count, replies_load, stripe_count, stripe_load, stripe_stories, tracking_count
from soak_load import tracking_load
from texting import afternoon_zone

from fakes.stripe_server import FakeStripeServer
from fakes.twilio_server import FakeTwilioServer

REDIS_URL = "redis://127.0.0.1:6379/9"  # the soak's own Redis database
STRIPE_KEY, STRIPE_SECRET = "sk_test_soak_0123456789", "whsec_soak_0123456789"
VIEWED_LEADS = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load")
    parser.add_argument("--texts-per-minute", type=float, default=30.0)
    parser.add_argument("--views-per-second", type=float, default=4.0)
    parser.add_argument("--buyers-per-minute", type=float, default=6.0)
    parser.add_argument("--pg-down-seconds", type=float, default=0.0,
                        help="keep PostgreSQL stopped this long in its restart (default: straight back up)")
    parser.add_argument("--settle-timeout", type=float, default=600, help="seconds to wait for the stack to settle")
    parser.add_argument("--smoke", action="store_true", help="CI size: 1 minute")
    parser.add_argument("--drop", action="store_true", help="delete the cluster, release and logs at the end")
    args = parser.parse_args()
    if args.smoke:
        args.minutes = 1.0
    return args


def seed(args, span: float) -> dict:
    """Company, a one-step sequence and three groups of leads where it is mid-afternoon now."""
    from django.utils import timezone

    from crm.models import CompanySettings, Enrollment, Lead, MessageTemplate, Sequence, SequenceStep
    from crm.services.tracking import tracking_nonce

    company = CompanySettings.load()
    company.sender_numbers, company.auto_enroll_sequence = "\n".join(NUMBERS), None
    company.save()
    step = SequenceStep.objects.create(
        sequence=Sequence.objects.create(name="Soak"), order=1, delay_days=0,
        template=MessageTemplate.objects.create(name="Soak", body="Hi {business_name}, your site: {preview_url}"))
    now, zone = timezone.now(), afternoon_zone(timezone.now())

    def leads(prefix: str, count: int, area: str, **fields) -> list:
        return Lead.objects.bulk_create([
            Lead(business_name=f"{prefix} {i}", phone=f"+1{area}{3000000 + i}", time_zone=zone,
                 time_zone_source="manual", first_line="We built you a site.", **fields) for i in range(count)])

    texted = leads("Soak Plumbing", max(4, round(args.texts_per_minute * args.minutes)), "737",
                   consent_source="soak", consent_at=now)
    Enrollment.objects.bulk_create([Enrollment(lead=lead, sequence=step.sequence, next_step=step,
                                               next_run_at=now + timedelta(seconds=random.uniform(0, span)))
                                    for lead in texted])
    viewed = leads("Soak Viewed", VIEWED_LEADS, "512")
    bought = leads("Soak Buyer", max(2, round(args.buyers_per_minute * args.minutes)), "469")
    return {"zone": zone, "texted": [lead.phone for lead in texted], "bought": [lead.pk for lead in bought],
            "viewed": [(lead.pk, lead.preview_token, tracking_nonce(lead.preview_token)) for lead in viewed]}


def settled(stripe_sender: threading.Thread) -> tuple[bool, str]:
    import redis
    from django.db import connections

    from crm.integrations.tracking_queue import QUEUE_KEY
    from crm.models import Enrollment

    connections.close_all()  # the server may have restarted under this process's connection
    texts_done, state = texts_settled()
    active = Enrollment.objects.filter(status="active").count()
    tracking = redis.Redis.from_url(REDIS_URL).llen(QUEUE_KEY)
    done = texts_done and not active and not tracking and not stripe_sender.is_alive()
    return done, (f"{state}, {active} enrolments active, {tracking} tracking events queued, Stripe deliveries "
                  f"{'still going' if stripe_sender.is_alive() else 'done'}")


def run(args, workdir: Path, pg: prodstack.PrivatePostgres) -> dict:
    span = args.minutes * 60
    sms = FakeTwilioServer(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, answer_delay=(0.05, 0.3),
                           callback_statuses=("sent", "delivered"), early_callbacks=0.3).start()
    stripe = FakeStripeServer(api_key=STRIPE_KEY, webhook_secret=STRIPE_SECRET).start()
    port = prodstack.free_port()
    base = f"http://127.0.0.1:{port}"
    env = prodstack.production_env(
        database_url=pg.create_database("crm_soak"), redis_url=REDIS_URL, public_base_url=base, Q_WORKERS="2",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_API_BASE_URL=sms.base_url,
        SMS_RATE_PER_NUMBER="5", STRIPE_SECRET_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
        STRIPE_API_BASE_URL=stripe.base_url,
        # Every event comes from 127.0.0.1 here: the per-address limits are not what is soaked.
        TRACKING_EVENTS_PER_MINUTE="100000", TRACKING_EVENTS_PER_ADDRESS="100000")
    release = prodstack.release_copy(workdir / "release")
    prodstack.flush_redis(REDIS_URL)
    prodstack.deploy(release, env)
    prodstack.setup_django(env, release)
    groups = seed(args, span)
    plan = stripe_stories(groups["bought"], span)
    tracking_sent, replies_sent, stripe_sent, stops = Sent(), Sent(), Sent(), []
    stop_phones = random.sample(groups["texted"], max(1, len(groups["texted"]) * 15 // 100))
    reply_phones = random.sample(sorted(set(groups["texted"]) - set(stop_phones)),
                                 max(1, len(groups["texted"]) // 10))
    print(f"{len(groups['texted'])} texted leads (steps due over {span:.0f} s, 5 numbers), {VIEWED_LEADS} viewed "
          f"at {args.views_per_second:g}/s, {len(groups['bought'])} buyers ({len(plan)} Stripe deliveries), "
          f"{len(stop_phones)} STOPs, {len(reply_phones)} replies; leads in {groups['zone']}; work in {workdir}.")
    stripe_done = threading.Event()
    with prodstack.Web(release, env, port, workdir) as web, \
            prodstack.Cluster(env, "soak", project_dir=release) as cluster:
        started = time.monotonic()
        load = [threading.Thread(target=tracking_load, args=(base, groups["viewed"], args.views_per_second, span,
                                                            tracking_sent)),
                threading.Thread(target=post_stops, args=(port, stop_phones, span, stops)),
                threading.Thread(target=replies_load, args=(base, reply_phones, NUMBERS[0], ACCOUNT_SID, AUTH_TOKEN,
                                                           span, replies_sent))]
        stripe_thread = threading.Thread(target=stripe_load, args=(base, plan, STRIPE_SECRET, stripe_sent,
                                                                   stripe_done), daemon=True)
        for thread in [*load, stripe_thread]:
            thread.start()
        for at, fault in ((0.3, "worker SIGKILL"), (0.5, "PostgreSQL restart"), (0.7, "worker SIGKILL")):
            time.sleep(max(0.0, at * span - (time.monotonic() - started)))
            cluster.kill_and_restart() if fault == "worker SIGKILL" else pg.restart(args.pg_down_seconds)
            print(f"  {fault} at {time.monotonic() - started:.0f} s; back")
        for thread in load:
            thread.join()
        print(f"Load done at {time.monotonic() - started:.0f} s; settling (up to {args.settle_timeout:.0f} s).")
        settle_started = time.monotonic()
        while True:
            done, state = settled(stripe_thread)
            if done:
                time.sleep(2)  # callbacks still on their way from the fake's threads
                if settled(stripe_thread)[0]:
                    break
            if time.monotonic() - settle_started > args.settle_timeout:
                print(f"Not settled after {args.settle_timeout:.0f} s: {state}")
                break
            cluster.check()
            time.sleep(2)
        stripe_done.set()
        print(f"Settled {time.monotonic() - settle_started:.0f} s after the load.")
        figures = {"texts": texts_count(sms, groups["texted"], stops), "tracking": tracking_count(tracking_sent),
                   "inbound": inbound_count(replies_sent, stops), "stripe": stripe_count(stripe_sent, plan),
                   "errors_5xx": web.errors_5xx()}
        figures["callbacks"], figures["texted"] = len(sms.callbacks), groups["texted"]
    sms.stop()
    stripe.stop()
    if args.drop:
        cluster.log.unlink(missing_ok=True)
    return figures


def main() -> None:
    args = parse_args()
    raise_on_sigterm()
    workdir, pg = Path(tempfile.mkdtemp(prefix="crm-soak-")), prodstack.PrivatePostgres()
    try:
        figures = run(args, workdir, pg.start())
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        prodstack.flush_redis(REDIS_URL)
        pg.close() if args.drop else pg.stop()
        if args.drop:
            shutil.rmtree(workdir, ignore_errors=True)
    texts, tracking, inbound, stripe = (figures[k] for k in ("texts", "tracking", "inbound", "stripe"))
    print(f"texts: {len(figures['texted'])} leads, ended {texts['ended']}, "
          f"accepted {texts['accepted']}, lost {texts['lost']}, callbacks {figures['callbacks']} "
          f"(lost {texts['callbacks_lost']}), duplicates {texts['duplicates']}, after STOP {texts['after_stop']}")
    if texts["lost_examples"]:
        print("  lost texts (first 5):", *texts["lost_examples"], sep="\n    ")
    print(f"tracking: {tracking}\ninbound: {inbound}\nstripe: {stripe}")
    for status, method, path in figures["errors_5xx"][:10]:
        print(f"  {status} {method} {path}")
    lost = texts["lost"] + texts["callbacks_lost"] + tracking["lost"] + inbound["lost"] + stripe["lost"]
    duplicates = texts["duplicates"] + tracking["duplicates"] + inbound["duplicates"] + stripe["duplicates"]
    events = tracking["sent"] + inbound["sent"] + stripe["deliveries"] + texts["accepted"] + figures["callbacks"]
    errors = len(figures["errors_5xx"])
    if not args.drop:
        print(f"Kept (stopped): {workdir} (release, logs) and {pg.root} (PostgreSQL)")
    print(f"soak: minutes={args.minutes:g} events={events} lost={lost} duplicates={duplicates} "
          f"after_stop={texts['after_stop']} errors_5xx={errors}")
    if lost or duplicates or texts["after_stop"] or errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
