"""The fake Stripe's hosted pages (served by fakes/stripe_server.py beside its API routes).

A Checkout Session's `url` leads to its payment page here (`/pay/<session id>`). Its "Pay"
button completes the session as Stripe does: the customer, the subscription and the paid first
invoice are made from Stripe's object shapes (fakes/stripe_shapes/), the
`checkout.session.completed` and `invoice.paid` events recorded (the Events API lists them) and
posted signed to the server's `webhook_url`, then the browser goes to the session's
success_url. `/portal/<id>` is the billing portal's page.
"""

from __future__ import annotations

import copy
import html
import uuid
from typing import TYPE_CHECKING

import httpx

from fakes.stripe_events import event as event_envelope, new_id, shape, signed

if TYPE_CHECKING:
    from fakes.stripe_server import FakeStripeServer

MONTH_SECONDS = 30 * 86400
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:system-ui;max-width:32rem;margin:3rem auto;padding:0 1rem"><main>{body}</main></body></html>"""
HTML = "text/html; charset=utf-8"

# What a page handler answers: status, content type, body, extra headers.
Answer = tuple[int, str, str, dict]


def html_page(status: int, title: str, body: str) -> Answer:
    return status, HTML, PAGE.format(title=html.escape(title), body=body), {}


def portal_page() -> Answer:
    return html_page(200, "Billing portal", "<h1>Billing portal</h1><p>Update your card here.</p>")


def pay_page(fake: FakeStripeServer, method: str, session_id: str) -> Answer:
    """GET: the session's lines and a Pay button; POST: pay, then off to the success_url."""
    with fake._lock:
        session = fake._session(session_id)
        state = session["status"] if session else "missing"
    if state != "open":
        return html_page(410 if session else 404, "Checkout unavailable",
                         f"<h1>This checkout is {html.escape(state)}</h1>")
    if method == "POST":
        session_complete(fake, session_id)
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        return 303, "text/plain", "", {"Location": target}
    rows = "".join(f"<li>{html.escape(line['name'])}: {line['amount'] / 100:.2f} "
                   f"{html.escape(line['currency'].upper())}{' / month' if line['recurring'] else ''}</li>"
                   for line in session["_lines"])
    promo = ('<p><label>Promotion code <input name="promotion_code"></label></p>'
             if session["allow_promotion_codes"] else "")
    return html_page(200, "Fake Stripe Checkout",
                     f"<h1>Pay {html.escape(str(session['metadata'].get('business_name', '')))}</h1>"
                     f"<ul>{rows}</ul><form method=post>{promo}<button type=submit>Pay</button></form>")


def session_complete(fake: FakeStripeServer, session_id: str) -> list[dict]:
    """The customer paid: complete the session, make its customer, subscription and paid first
    invoice, record the two events and post them signed to the server's webhook_url."""
    with fake._lock:
        session = fake._session(session_id)
        if session is None or session["status"] != "open":
            raise ValueError(f"session {session_id} is not open")
        now = int(fake.clock())
        customer, sub_id, invoice_id = new_id("cus"), new_id("sub"), new_id("in")
        setup, monthly = session["_lines"]
        subscription = _subscription_make(sub_id, customer, monthly, session, now, invoice_id)
        fake.subscriptions[sub_id] = subscription
        total = setup["amount"] + monthly["amount"]
        session.update(status="complete", payment_status="paid", customer=customer, subscription=sub_id,
                       invoice=invoice_id, amount_subtotal=total, amount_total=total)
        invoice = _invoice_make(invoice_id, customer, sub_id, session, subscription, now)
        events = [event_envelope(kind, obj, created=now, event_id="evt_test_" + uuid.uuid4().hex)
                  for kind, obj in (("checkout.session.completed", fake._public(session)), ("invoice.paid", invoice))]
        fake.events.extend(events)
    for event in events:
        _deliver(fake, event)
    return events


def _subscription_make(sub_id, customer, monthly, session, now, invoice_id) -> dict:
    sub = shape("subscription")
    period_end = now + MONTH_SECONDS
    item = sub["items"]["data"][0]
    item.update(id=new_id("si"), subscription=sub_id, quantity=1, created=now, current_period_start=now,
                current_period_end=period_end)
    item["price"].update(id=monthly["price"], unit_amount=monthly["amount"],
                         unit_amount_decimal=str(monthly["amount"]), currency=monthly["currency"], created=now,
                         recurring={**item["price"]["recurring"], "interval": "month", "interval_count": 1})
    item["plan"].update(id=monthly["price"], amount=monthly["amount"], currency=monthly["currency"],
                        interval="month", interval_count=1, billing_scheme="per_unit")
    sub["items"]["url"] = f"/v1/subscription_items?subscription={sub_id}"
    sub.update(id=sub_id, customer=customer, status="active", created=now, start_date=now,
               billing_cycle_anchor=now, cancel_at=None, cancel_at_period_end=False, canceled_at=None,
               ended_at=None, trial_start=None, trial_end=None, pending_update=None, pause_collection=None,
               transfer_data=None, currency=monthly["currency"], latest_invoice=invoice_id,
               metadata=session["_subscription_metadata"], billing_schedules=[],
               next_pending_invoice_item_invoice=None, pending_invoice_item_interval=None)
    return sub


def _invoice_make(invoice_id, customer, sub_id, session, subscription, now) -> dict:
    invoice = shape("invoice")
    template = invoice["lines"]["data"][0]
    lines = []
    for line, recurring in zip(session["_lines"], (False, True), strict=True):
        data = copy.deepcopy(template)
        if recurring:
            parent = {"type": "subscription_item_details", "invoice_item_details": None,
                      "subscription_item_details": {"invoice_item": None, "proration": False,
                                                    "proration_details": {"credited_items": None},
                                                    "subscription": sub_id,
                                                    "subscription_item": subscription["items"]["data"][0]["id"]}}
        else:
            parent = {"type": "invoice_item_details", "subscription_item_details": None,
                      "invoice_item_details": {"invoice_item": new_id("ii"), "proration": False,
                                               "proration_details": {"credited_items": None},
                                               "subscription": sub_id}}
        data.update(id=new_id("il"), invoice=invoice_id, amount=line["amount"], subtotal=line["amount"],
                    currency=line["currency"], description=f"1 x {line['name']}", parent=parent,
                    period={"start": now, "end": now + (MONTH_SECONDS if recurring else 0)},
                    pricing={"type": "price_details", "price_details": {"price": line["price"]},
                             "unit_amount_decimal": str(line["amount"])})
        lines.append(data)
    total = sum(line["amount"] for line in session["_lines"])
    invoice.update(
        id=invoice_id, customer=customer, status="paid", billing_reason="subscription_create", created=now,
        currency=session["currency"], amount_due=total, amount_paid=total, amount_remaining=0,
        amount_overpaid=0, subtotal=total, subtotal_excluding_tax=total, total=total, total_excluding_tax=total,
        attempt_count=1, attempted=True, period_start=now, period_end=now, next_payment_attempt=None,
        due_date=None, from_invoice=None, last_finalization_error=None, number=f"FAKE-{invoice_id[-6:]}",
        parent={"type": "subscription_details", "quote_details": None,
                "subscription_details": {"subscription": sub_id, "metadata": session["_subscription_metadata"]}},
        lines={"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"},
        status_transitions={"finalized_at": now, "marked_uncollectible_at": None, "paid_at": now,
                            "voided_at": None},
    )
    return invoice


def _deliver(fake: FakeStripeServer, event: dict) -> None:
    """Post the event, signed as Stripe signs, to the webhook; note what the app answered."""
    if not fake.webhook_url:
        return
    body, headers = signed(event, secret=fake.webhook_secret, timestamp=int(fake.clock()))
    headers["Content-Type"] = "application/json; charset=utf-8"
    try:
        status = httpx.post(fake.webhook_url, content=body, headers=headers, timeout=30).status_code
    except httpx.HTTPError:
        status = 0
    with fake._lock:
        fake.deliveries.append((event["id"], event["type"], status))
