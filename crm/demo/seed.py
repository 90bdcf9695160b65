"""Load a whole, believable demo agency into an empty database, once."""

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm.models import BulkSend, ImportBatch, Lead, Message, User, WebhookEvent
from crm.services.messaging.bulk_send import bulk_dedupe_key
from crm.services.reply_waiting import reply_waiting_backfill

from .activity import demo_activity_build
from .billing import demo_billing_build
from .company import (
    DEMO_LOGINS,
    SENDER_NUMBERS,
    DemoCompany,
    DemoLogin,
    company_outreach_create,
    company_settings_fill,
    company_api_token_create,
    company_saved_replies_create,
    company_targets_create,
    company_users_create,
)
from .leads import DEMO_MARKER, demo_batches_create, demo_leads_build
from .rows import RowCollector, hex_id, next_send_time

DEFAULT_SEED = 20240601


class DemoSeedRefused(Exception):
    """The demo data must not (or cannot) be loaded into this database."""


@dataclass
class DemoSeedResult:
    created: bool
    counts: dict[str, int] = field(default_factory=dict)
    logins: tuple[DemoLogin, ...] = DEMO_LOGINS
    seconds: float = 0.0


def demo_seed_refusal() -> str | None:
    """Why demo data may not be loaded here, or None when it may.

    Demo data brings logins with published passwords, so it is refused under the
    production settings module, and whenever DEBUG is off outside the test settings.
    """
    if not getattr(settings, "DEMO_DATA_ALLOWED", False):
        return ("Refusing to load demo data with production settings: it creates logins with "
                "published passwords. Use settings.local on a development database.")
    if not settings.DEBUG and getattr(settings, "DEMO_DATA_REQUIRES_DEBUG", True):
        return ("Refusing to load demo data with DEBUG off: that looks like a live site. Run it on "
                "a development database with DJANGO_DEBUG=true.")
    return None


def demo_data_present() -> bool:
    """True once demo_seed has run on this database (its import batches carry a marker)."""
    return ImportBatch.objects.filter(**{f"options__{DEMO_MARKER}": True}).exists()


def crm_row_counts() -> dict[str, int]:
    """Rows per model of the crm app, by model name."""
    return {
        model.__name__: model._default_manager.count()
        for model in apps.get_app_config("crm").get_models()
    }


def demo_seed(*, seed: int = DEFAULT_SEED, now: datetime | None = None) -> DemoSeedResult:
    """Load the demo agency unless it is already here.

    Guarantees: refuses (DemoSeedRefused, nothing written) under production-like settings
    or when a demo username is taken by someone else; writes everything or nothing (one
    transaction); a second run writes nothing and returns created=False. The same `seed`
    gives the same leads, names and phones; stories also depend on `now` (texts must land in
    each lead's quiet hours, nothing may happen in the future), so pin both to repeat a run.
    """
    refusal = demo_seed_refusal()
    if refusal:
        raise DemoSeedRefused(refusal)
    started = time.monotonic()
    with transaction.atomic():
        if demo_data_present():
            return DemoSeedResult(created=False, counts=crm_row_counts())
        taken = [
            login.username for login in DEMO_LOGINS
            if User.objects.filter(username__iexact=login.username).exists()
        ]
        if taken:
            raise DemoSeedRefused(
                f"User(s) {', '.join(taken)} already exist but the demo data is not here: "
                "seed an empty database, or rename those users first."
            )
        _load(rng=random.Random(seed), now=(now or timezone.now()).replace(microsecond=0))
    return DemoSeedResult(created=True, counts=crm_row_counts(),
                          seconds=time.monotonic() - started)


def _load(*, rng: random.Random, now: datetime) -> None:
    admin, reps = company_users_create(joined_at=now - timedelta(days=100))
    company_settings = company_settings_fill()
    sequence, steps, checkout_template = company_outreach_create(settings=company_settings)
    company_targets_create(reps=reps)
    company_saved_replies_create(reps=reps)
    company_api_token_create(admin=admin)
    company = DemoCompany(admin=admin, reps=reps, settings=company_settings, sequence=sequence,
                          steps=steps, checkout_template=checkout_template)

    batches = demo_batches_create(admin=admin, now=now, rng=rng)
    plans = demo_leads_build(batches=batches, reps=reps, rng=rng,
                             taken_phones=Lead.objects.values_list("phone", flat=True))
    rows = RowCollector()
    demo_activity_build(plans=plans, company=company, rows=rows, rng=rng, now=now)
    rows.flush()

    billing_rows = RowCollector()
    paid = [plan for plan in plans if plan.paid_at is not None]
    demo_billing_build(paid=paid, company=company, rows=billing_rows, rng=rng, now=now)
    _add_sms_webhooks(plans, billing_rows, rng)
    _add_bulk_send(plans, company, billing_rows, rng, now)
    billing_rows.flush()
    # The texts and calls went in as rows: the replies still waiting for an answer are read
    # from them by the rule the live paths keep (the rep's queue shows them).
    reply_waiting_backfill(lead_ids=[plan.lead.pk for plan in plans])


def _add_bulk_send(plans: list, company: DemoCompany, rows: RowCollector, rng: random.Random, now: datetime) -> None:
    """Last week the admin texted a seasonal offer to some contacted leads with "Send a text"."""
    chosen = [p for p in plans if p.lead.status == Lead.Status.CONTACTED and not p.lead.opted_out_at
              and not p.lead.number_flagged_at][:8]
    if not chosen:
        return
    body = "Spring offer from Brightside: launch your new site this month and the first month of care is on us."
    started = now - timedelta(days=6)
    bulk = rows.add(BulkSend(body=body, dedupe_key=bulk_dedupe_key(body), created_by=company.admin,
                             selected=len(chosen) + 1, queued=len(chosen),
                             refused={"no recorded consent for automated texts": 1}), at=started)
    for plan in chosen:
        sent_at = next_send_time(started, plan.lead.time_zone, rng)
        rows.add(Message(lead=plan.lead, direction=Message.Direction.OUTBOUND, body=body,
                         from_number=SENDER_NUMBERS[0], to_number=plan.lead.phone,
                         provider_sid=hex_id(rng, "SM"), status=Message.Status.DELIVERED,
                         sent_by=company.admin, bulk_send=bulk, dedupe_key=bulk.dedupe_key, send_at=sent_at,
                         sent_at=sent_at, delivered_at=sent_at + timedelta(seconds=4)),
                 at=sent_at - timedelta(seconds=1))


def _add_sms_webhooks(plans: list, rows: RowCollector, rng: random.Random) -> None:
    """Twilio callbacks for a handful of the demo's texts, as the webhook views store them."""
    replied = [p for p in plans if p.extras.get("inbound")]
    for plan in rng.sample(replied, k=min(6, len(replied))):
        sid, body, at, to_number = plan.extras["inbound"][0]
        payload = {"MessageSid": sid, "From": plan.lead.phone, "To": to_number, "Body": body,
                   "NumMedia": "0", "SmsStatus": "received"}
        rows.add(WebhookEvent(source=WebhookEvent.Source.TWILIO_SMS, event_id=sid,
                              event_type="sms.received", payload=payload, attempts=1,
                              processed_at=at + timedelta(seconds=1)), received_at=at)
    sent = [m for p in plans for m in p.extras.get("outbound", [])]
    for message in rng.sample(sent, k=min(4, len(sent))):
        payload = {"MessageSid": message.provider_sid, "MessageStatus": message.status,
                   "To": message.to_number, "From": message.from_number,
                   "ErrorCode": message.error_code}
        at = message.delivered_at or message.sent_at + timedelta(seconds=5)
        rows.add(WebhookEvent(source=WebhookEvent.Source.TWILIO_STATUS,
                              event_id=f"{message.provider_sid}:{message.status}",
                              event_type=f"message.{message.status}", payload=payload,
                              attempts=1, processed_at=at + timedelta(seconds=1)), received_at=at)
