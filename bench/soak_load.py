"""The soak's load (bench/soak.py), each kind in its own thread, and how each kind is counted.

Every sender records what it sent and what the web answered; the counts compare that record
with the database once the stack has settled:

- tracking: preview events (a unique session each, with the page's signed nonce) -> every one
  answered 201 is stored exactly once, and each lead's view counter equals its stored views.
- replies: inbound texts that are not STOPs (some posted twice, as Twilio retries) -> every
  MessageSid answered 200 is stored as exactly one inbound message.
- stripe: per buyer a checkout, its first invoice (setup + month), a renewal and, for every
  other buyer, a cancellation, shuffled (out of order) with a quarter of them delivered twice;
  a delivery answered with an error is sent again 3 s later, as Stripe does -> every event id is
  stored once and processed without error, and the buyer has exactly the client, subscription
  state and transactions those events imply.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/130.0.0.0 Safari/537.36")
REPLY = "Sounds good, what does it cost?"
SETUP_CENTS, MONTHLY_CENTS = 49_900, 9_900


@dataclass
class Sent:
    """What one sender sent: (key, HTTP status or 0 when none came) per delivery, thread-safe."""

    deliveries: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, status: int) -> None:
        with self.lock:
            self.deliveries.append((key, status))

    def accepted(self, ok=(200, 201)) -> set[str]:
        return {key for key, status in self.deliveries if status in ok}


def _post(client: httpx.Client, url: str, **kwargs) -> int:
    try:
        return client.post(url, timeout=30, **kwargs).status_code
    except httpx.HTTPError:
        return 0


def _paced(moments: list[float], started: float):
    """Yield each index when its moment (seconds after `started`) comes."""
    for i, moment in enumerate(moments):
        time.sleep(max(0.0, moment - (time.monotonic() - started)))
        yield i


# --- tracking ----------------------------------------------------------------------------------

def tracking_load(base: str, leads: list[tuple[int, str, str]], rate: float, span: float, sent: Sent) -> None:
    """`rate` events a second for `span` seconds; leads are (id, token, nonce). Views and pings."""
    started, moments = time.monotonic(), [i / rate for i in range(int(rate * span))]
    with httpx.Client(headers={"User-Agent": CHROME_UA}) as client:
        for i in _paced(moments, started):
            _, token, nonce = random.choice(leads)
            kind = "view" if i % 3 else "ping"
            session = f"soak{i:012d}"
            body = {"type": kind, "session": session, "nonce": nonce, "seconds": 5 if kind == "ping" else 0}
            sent.add(session, _post(client, f"{base}/p/{token}/t/", json=body))


def tracking_count(sent: Sent) -> dict:
    from django.db.models import Count

    from crm.models import Lead, PreviewEvent

    stored = Counter(dict(PreviewEvent.objects.filter(session_id__startswith="soak").values("session_id")
                          .annotate(n=Count("pk")).values_list("session_id", "n")))
    accepted = sent.accepted((201,))
    views = dict(PreviewEvent.objects.filter(kind="view").values("lead_id").annotate(n=Count("pk"))
                 .values_list("lead_id", "n"))
    counters = dict(Lead.objects.filter(pk__in=views).values_list("pk", "preview_views"))
    unstored = sorted(session for session in accepted if not stored[session])
    miscounted = {lead: (n, counters.get(lead, 0)) for lead, n in views.items() if counters.get(lead, 0) != n}
    return {
        "sent": len(sent.deliveries), "accepted": len(accepted),
        "lost": len(unstored) + sum(max(0, n - counted) for n, counted in miscounted.values()),
        "duplicates": sum(n - 1 for n in stored.values() if n > 1)
        + sum(max(0, counted - n) for n, counted in miscounted.values()),
        # (lead: (views stored, its view counter)) where they differ; events answered 201, not stored
        "examples": {"miscounted": dict(list(miscounted.items())[:5]), "not_stored": unstored[:5]},
    }


# --- inbound replies (STOPs go through chaos_sms.post_stops) -----------------------------------

def replies_load(base: str, phones: list[str], to: str, account: str, token: str, span: float, sent: Sent) -> None:
    """One signed inbound reply per phone at a random moment; a fifth of them posted again 2 s later."""
    from twilio.request_validator import RequestValidator

    url = f"{base}/webhooks/twilio/sms/"
    plan = sorted((random.uniform(0, span), f"SMsoakreply{i:020d}", phone) for i, phone in enumerate(phones))
    plan += [(moment + 2, sid, phone) for moment, sid, phone in plan if random.random() < 0.2]
    plan.sort()
    started = time.monotonic()
    with httpx.Client() as client:
        for i in _paced([moment for moment, _, _ in plan], started):
            _, sid, phone = plan[i]
            params = {"MessageSid": sid, "AccountSid": account, "From": phone, "To": to, "Body": REPLY}
            signature = RequestValidator(token).compute_signature(url, params)
            sent.add(sid, _post(client, url, data=params, headers={"X-Twilio-Signature": signature}))


def inbound_count(sent: Sent, stops: list[tuple[str, float, int]]) -> dict:
    from django.db.models import Count

    from crm.models import Message

    stored = Counter(dict(Message.objects.filter(direction="in").values("provider_sid").annotate(n=Count("pk"))
                          .values_list("provider_sid", "n")))
    accepted = sent.accepted((200,))
    stopped = {phone for phone, _, status in stops if status == 200}
    stop_rows = set(Message.objects.filter(direction="in", lead__phone__in=stopped).values_list("lead__phone",
                                                                                                 flat=True))
    return {"sent": len(sent.deliveries) + len(stops),
            "lost": sum(1 for sid in accepted if not stored[sid]) + len(stopped - stop_rows),
            "duplicates": sum(n - 1 for n in stored.values() if n > 1)}


# --- Stripe -------------------------------------------------------------------------------------

def stripe_stories(lead_ids: list[int], span: float) -> list[tuple[float, dict]]:
    """(moment, event) for every delivery, in sending order: stories spread over `span`, each
    shuffled, a quarter of the events delivered a second time 3-15 s later."""
    from fakes.stripe_events import checkout_completed, invoice_event, new_id, subscription_event

    plan = []
    for n, lead_id in enumerate(lead_ids):
        created = int(time.time()) - 3600 + n
        customer, subscription, first = new_id("cus"), new_id("sub"), new_id("in")
        story = [
            checkout_completed(lead_id=lead_id, customer=customer, subscription=subscription, invoice=first,
                               amount_total=SETUP_CENTS + MONTHLY_CENTS, created=created),
            invoice_event("invoice.paid", customer=customer, subscription=subscription, amount=MONTHLY_CENTS,
                          setup_amount=SETUP_CENTS, invoice_id=first, created=created),
            invoice_event("invoice.paid", customer=customer, subscription=subscription, amount=MONTHLY_CENTS,
                          created=created + 60),
        ]
        if n % 2:
            story.append(subscription_event("customer.subscription.deleted", subscription=subscription,
                                            customer=customer, status="canceled", created=created + 120))
        random.shuffle(story)
        start = random.uniform(0, span)
        plan += [(start + random.uniform(0, 2), event) for event in story]
        plan += [(start + random.uniform(3, 15), event) for event in story if random.random() < 0.25]
    return sorted(plan, key=lambda item: item[0])


def stripe_load(base: str, plan: list[tuple[float, dict]], secret: str, sent: Sent, until: threading.Event) -> None:
    """Deliver each planned event, signed at sending time; an error answer is retried 3 s later
    (for as long as `until` is not set), as Stripe retries."""
    from fakes.stripe_events import signed

    queue = [(moment, i, event) for i, (moment, event) in enumerate(plan)]
    started = time.monotonic()
    with httpx.Client() as client:
        while queue and not until.is_set():
            queue.sort(key=lambda item: item[0])
            moment, i, event = queue.pop(0)
            time.sleep(max(0.0, moment - (time.monotonic() - started)))
            body, headers = signed(event, secret=secret)
            status = _post(client, f"{base}/webhooks/stripe/", content=body, headers=headers)
            sent.add(event["id"], status)
            if not 200 <= status < 300:
                queue.append((time.monotonic() - started + 3, i, event))


def stripe_count(sent: Sent, plan: list[tuple[float, dict]]) -> dict:
    from django.db.models import Count, Sum

    from crm.models import Client, Subscription, Transaction, WebhookEvent

    events = {event["id"]: event for _, event in plan}
    accepted = {key for key, status in sent.deliveries if 200 <= status < 300}
    stored = {e.event_id: e for e in WebhookEvent.objects.filter(source="stripe", event_id__in=list(events))}
    lost = sum(1 for event_id in events if event_id not in accepted or event_id not in stored
               or stored[event_id].processed_at is None or stored[event_id].error)
    checkouts = {e["data"]["object"]["customer"]: e for e in events.values()
                 if e["type"] == "checkout.session.completed"}
    canceled = {e["data"]["object"]["customer"] for e in events.values()
                if e["type"] == "customer.subscription.deleted"}
    clients = {c.stripe_customer_id: c for c in Client.objects.filter(stripe_customer_id__in=list(checkouts))}
    money = {client_id: (n, cents) for client_id, n, cents in Transaction.objects.filter(
        client__in=list(clients.values())).values("client_id").annotate(n=Count("pk"), cents=Sum("amount_cents"))
        .values_list("client_id", "n", "cents")}
    statuses = dict(Subscription.objects.filter(client__in=list(clients.values())).values_list("client_id", "status"))
    duplicates = 0
    for customer in checkouts:
        client = clients.get(customer)
        if client is None:
            lost += 1
            continue
        made, cents = money.get(client.pk, (0, 0))
        lost += max(0, 3 - made) + (made == 3 and cents != SETUP_CENTS + 2 * MONTHLY_CENTS)
        duplicates += max(0, made - 3)
        wanted = "canceled" if customer in canceled else "active"
        lost += statuses.get(client.pk) != wanted
    return {"events": len(events), "deliveries": len(sent.deliveries), "lost": lost, "duplicates": duplicates,
            "buyers": len(checkouts)}
