"""Signed Stripe webhook events for tests and benchmarks, built from Stripe's own object shapes
(fakes/stripe_shapes/, copied from Stripe's OpenAPI fixtures): copy a shape, change the fields
an event is about, wrap it in the event envelope, sign it as Stripe does.

    body, headers = signed(checkout_completed(lead_id=7, customer="cus_1", subscription="sub_1"),
                           secret="whsec_test")
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from functools import cache
from pathlib import Path

from stripe import WebhookSignature

SHAPES = Path(__file__).resolve().parent / "stripe_shapes"


@cache
def _shape_text(name: str) -> str:
    return (SHAPES / f"{name}.json").read_text()


def shape(name: str) -> dict:
    return json.loads(_shape_text(name))


def new_id(prefix: str) -> str:
    return f"{prefix}_test_{uuid.uuid4().hex[:24]}"


def event(event_type: str, obj: dict, *, created: int | None = None, event_id: str | None = None) -> dict:
    envelope = shape("event")
    envelope.update(id=event_id or new_id("evt"), type=event_type, created=int(created or time.time()),
                    data={"object": obj}, pending_webhooks=1, request={"id": None, "idempotency_key": None})
    return envelope


def signed(payload: dict, *, secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a delivery: Stripe-Signature t=<unix>,v1=<HMAC-SHA256 of "t.body">,
    made with the stripe SDK's own signer."""
    body = json.dumps(payload, separators=(",", ":"))
    header = WebhookSignature.generate_signature_header(body, secret, timestamp=int(timestamp or time.time()))
    return body.encode(), {"Content-Type": "application/json", "Stripe-Signature": header}


def checkout_completed(*, lead_id: int, customer: str, subscription: str, invoice: str | None = None,
                       amount_total: int = 59_800, created: int | None = None, **fields) -> dict:
    session = shape("checkout.session")
    session.update(id="cs_test_" + uuid.uuid4().hex, mode="subscription", status="complete", payment_status="paid",
                   customer=customer, subscription=subscription, invoice=invoice or new_id("in"), currency="usd",
                   amount_total=amount_total, amount_subtotal=amount_total, payment_intent=None,
                   metadata={"lead_id": str(lead_id)}, client_reference_id=str(lead_id),
                   created=int(created or time.time()), **fields)
    return event("checkout.session.completed", session, created=created)


def _line(template: dict, *, amount: int, recurring: bool, subscription: str) -> dict:
    line = copy.deepcopy(template)
    details = {"subscription": subscription, "proration": False, "invoice_item": None}
    parent = ({"type": "subscription_item_details", "subscription_item_details": details,
               "invoice_item_details": None} if recurring else
              {"type": "invoice_item_details", "invoice_item_details": details, "subscription_item_details": None})
    line.update(id=new_id("il"), amount=amount, subtotal=amount, currency="usd", parent=parent)
    return line


def invoice_event(event_type: str, *, customer: str, subscription: str, amount: int, setup_amount: int = 0,
                  invoice_id: str | None = None, attempt: int = 1, created: int | None = None) -> dict:
    """invoice.paid / invoice.payment_failed for a subscription; `setup_amount` adds a one-time
    line (a checkout's first invoice carries the setup fee)."""
    invoice = shape("invoice")
    template = invoice["lines"]["data"][0]
    lines = [_line(template, amount=amount, recurring=True, subscription=subscription)]
    if setup_amount:
        lines.insert(0, _line(template, amount=setup_amount, recurring=False, subscription=subscription))
    total = amount + setup_amount
    paid = event_type == "invoice.paid"
    now = int(created or time.time())
    invoice.update(id=invoice_id or new_id("in"), customer=customer, currency="usd", amount_due=total,
                   amount_paid=total if paid else 0, attempt_count=attempt, status="paid" if paid else "open",
                   billing_reason="subscription_create" if setup_amount else "subscription_cycle", created=now,
                   parent={"type": "subscription_details", "quote_details": None,
                           "subscription_details": {"subscription": subscription, "metadata": {}}},
                   lines={"object": "list", "data": lines, "has_more": False, "url": "/v1/invoices/lines"},
                   status_transitions={"finalized_at": now, "marked_uncollectible_at": None,
                                       "paid_at": now if paid else None, "voided_at": None})
    return event(event_type, invoice, created=created)


def subscription_event(event_type: str, *, subscription: str, customer: str, unit_amount: int = 9_900,
                       quantity: int = 1, status: str = "active", cancel_at_period_end: bool = False,
                       created: int | None = None) -> dict:
    """customer.subscription.updated / .deleted with one item of `quantity` x `unit_amount`."""
    sub = shape("subscription")
    now = int(created or time.time())
    item = sub["items"]["data"][0]
    item.update(quantity=quantity, current_period_start=now, current_period_end=now + 30 * 86400)
    item["price"].update(unit_amount=unit_amount, unit_amount_decimal=str(unit_amount), nickname=None,
                         recurring={**item["price"]["recurring"], "interval": "month", "interval_count": 1})
    canceled = status == "canceled"
    sub.update(id=subscription, customer=customer, status=status, cancel_at_period_end=cancel_at_period_end,
               canceled_at=now if canceled else None, ended_at=now if canceled else None, created=now - 86400)
    return event(event_type, sub, created=created)


def charge_refunded(*, customer: str, amount: int, amount_refunded: int, charge_id: str | None = None,
                    created: int | None = None) -> dict:
    charge = shape("charge")
    charge.update(id=charge_id or new_id("ch"), customer=customer, amount=amount, amount_captured=amount,
                  amount_refunded=amount_refunded, refunded=amount_refunded >= amount, currency="usd")
    return event("charge.refunded", charge, created=created)
