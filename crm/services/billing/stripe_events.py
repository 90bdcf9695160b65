"""Stripe events, one handler per type: each reads the event's object and calls one billing
service. The types we act on are listed in HANDLERS; every other type is acknowledged and not
stored (the webhook view and stripe_sync check `stripe_event_wanted` first).

Handlers run inside crm.services.webhooks.webhook_event_process (the event row locked, so a
duplicate, even a concurrent one, has no second effect). An event about a customer we have not
recorded yet (an invoice.paid that beat its checkout.session.completed) raises EventNotReady:
it waits, without counting as a failure, and is applied as soon as the checkout lands.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from crm.models import Client, Lead, Subscription, WebhookEvent
from crm.services.billing.payments import charge_refund_record, checkout_complete, invoice_paid_record
from crm.services.billing.subscriptions import (
    SubscriptionState,
    subscription_cancel,
    subscription_payment_failed,
    subscription_state_apply,
)
from crm.services.errors import EventNotReady

logger = logging.getLogger(__name__)

STATUS_FROM_STRIPE = {
    "active": Subscription.Status.ACTIVE, "trialing": Subscription.Status.ACTIVE,
    "past_due": Subscription.Status.PAST_DUE, "unpaid": Subscription.Status.PAST_DUE,
    "canceled": Subscription.Status.CANCELED, "incomplete_expired": Subscription.Status.CANCELED,
}
PAID_SESSION_STATUSES = ("paid", "no_payment_required")
# Types whose success may unblock events waiting for their customer.
CUSTOMER_CREATING_TYPES = frozenset({"checkout.session.completed"})


def _at(unix: Any) -> datetime | None:
    return datetime.fromtimestamp(int(unix), tz=UTC) if isinstance(unix, int) and unix > 0 else None


def _object(event: WebhookEvent) -> dict:
    return event.payload["data"]["object"]


def _created(event: WebhookEvent) -> int:
    return int(event.payload["created"])


def _id(value: Any) -> str | None:
    """An id field that may be expanded into its object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def event_customer_id(payload: dict) -> str | None:
    """The Stripe customer an event is about, when it names one."""
    obj = payload.get("data", {}).get("object", {})
    return _id(obj.get("customer")) if isinstance(obj, dict) else None


def _customer_known(customer_id: str) -> bool:
    return Client.objects.filter(stripe_customer_id=customer_id).exists()


def stripe_event_ready(payload: dict) -> bool:
    """Whether the client an event is about exists (or it names none): an event that waited
    for its checkout can be processed now."""
    customer_id = event_customer_id(payload)
    return customer_id is None or _customer_known(customer_id)


def _client_or_wait(customer_id: str | None) -> Client:
    if not customer_id:
        raise ValueError("The event names no customer")
    client = Client.objects.select_related("rep").filter(stripe_customer_id=customer_id).first()
    if client is None:
        raise EventNotReady(f"No client for Stripe customer {customer_id} yet (waiting for its checkout)",
                            recheck=lambda: _customer_known(customer_id))
    return client


def _subscription(subscription_id: str | None) -> Subscription | None:
    return Subscription.objects.filter(stripe_subscription_id=subscription_id).first() if subscription_id else None


def _invoice_subscription_id(invoice: dict) -> str | None:
    details = ((invoice.get("parent") or {}).get("subscription_details") or {})
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _one_time_cents(invoice: dict) -> int:
    """The one-time lines of a checkout's first invoice: its setup fee, which the checkout
    records (0 for any other invoice)."""
    if invoice.get("billing_reason") not in (None, "subscription_create"):
        return 0
    total = 0
    for line in (invoice.get("lines") or {}).get("data") or []:
        parent_type = (line.get("parent") or {}).get("type")
        if parent_type == "invoice_item_details" or line.get("type") == "invoiceitem":
            total += int(line.get("amount") or 0)
    return total


def _metadata_cents(metadata: dict, key: str) -> int | None:
    """Cents the checkout put in the session's metadata (None when absent: the company's price)."""
    value = str(metadata.get(key, "")).strip()
    return int(value) if value.isdigit() else None


def _lead_id(session: dict) -> int | None:
    raw = str((session.get("metadata") or {}).get("lead_id") or session.get("client_reference_id") or "").strip()
    return int(raw) if raw.isdigit() else None


def checkout_session_completed(event: WebhookEvent) -> Client | None:
    session = _object(event)
    session_id, lead_id = session["id"], _lead_id(session)
    if session.get("payment_status") not in PAID_SESSION_STATUSES or lead_id is None:
        logger.warning("Stripe checkout %s is unpaid (%s) or names no lead; ignored", session_id,
                       session.get("payment_status"))
        return None
    metadata = session.get("metadata") or {}
    invoice_id = _id(session.get("invoice"))
    try:
        return checkout_complete(
            lead_id=lead_id, session_id=session_id, customer_id=_id(session.get("customer")) or "",
            subscription_id=_id(session.get("subscription")),
            setup_amount_cents=_metadata_cents(metadata, "setup_fee_cents"),
            monthly_amount_cents=_metadata_cents(metadata, "monthly_plan_cents"),
            currency=session.get("currency") or "",
            occurred_at=_at(session.get("created")) or _at(_created(event)),
            # The setup fee is a one-time line of the first invoice (subscription mode).
            setup_payment_id=(f"{invoice_id}:setup" if invoice_id else
                              _id(session.get("payment_intent")) or f"cs:{session_id[-50:]}"),
        )
    except Lead.DoesNotExist:
        logger.warning("Stripe checkout %s names lead %s, which we do not have; ignored", session_id, lead_id)
        return None


def _invoice_client_and_subscription(invoice: dict) -> tuple[Client, Subscription | None]:
    """The invoice's client (waiting for it while it is not recorded) and our row of its
    subscription: one query when the subscription is ours and held by that customer's client."""
    customer_id = _id(invoice.get("customer"))
    subscription_id = _invoice_subscription_id(invoice)
    subscription = (Subscription.objects.select_related("client__rep")
                    .filter(stripe_subscription_id=subscription_id).first() if subscription_id else None)
    if subscription is not None and customer_id and subscription.client.stripe_customer_id == customer_id:
        return subscription.client, subscription
    return _client_or_wait(customer_id), subscription


def invoice_paid(event: WebhookEvent) -> Any:
    invoice = _object(event)
    client, subscription = _invoice_client_and_subscription(invoice)
    paid_at = _at((invoice.get("status_transitions") or {}).get("paid_at")) or _at(_created(event))
    return invoice_paid_record(
        client=client, subscription=subscription, invoice_id=invoice["id"],
        amount_cents=int(invoice.get("amount_paid") or 0) - _one_time_cents(invoice),
        currency=invoice.get("currency") or "usd", occurred_at=paid_at, state_at=_created(event))


def invoice_payment_failed(event: WebhookEvent) -> bool:
    invoice = _object(event)
    client, subscription = _invoice_client_and_subscription(invoice)
    return subscription_payment_failed(
        client=client, subscription=subscription, invoice_id=invoice["id"],
        attempt=int(invoice.get("attempt_count") or 1), amount_cents=int(invoice.get("amount_due") or 0),
        currency=invoice.get("currency") or "usd", occurred_at=_at(_created(event)), state_at=_created(event))


def _subscription_or_wait(obj: dict) -> Subscription | None:
    """Our row of this Stripe subscription; wait while its customer has no client yet; None
    (ignored) for a subscription of a known client that no checkout of ours opened."""
    subscription = _subscription(obj.get("id"))
    if subscription is None:
        _client_or_wait(_id(obj.get("customer")))
        logger.warning("Stripe subscription %s is not one of ours; ignored", obj.get("id"))
    return subscription


def subscription_state(obj: dict) -> SubscriptionState:
    """Our view of a Stripe subscription object: one item -> its unit price x quantity; several
    -> their sum as one unit."""
    items = (obj.get("items") or {}).get("data") or []
    prices = [(item.get("price") or {}, int(item.get("quantity") or 1)) for item in items]
    if len(prices) == 1:
        price, quantity = prices[0]
        amount = int(price.get("unit_amount") or 0)
    else:
        price, quantity = (prices[0][0] if prices else {}), 1
        amount = sum(int(p.get("unit_amount") or 0) * q for p, q in prices)
    period_end = obj.get("current_period_end") or (items[0].get("current_period_end") if items else None)
    return SubscriptionState(
        amount_cents=amount, quantity=quantity, interval=(price.get("recurring") or {}).get("interval") or "month",
        price_id=price.get("id") or "", plan_name=price.get("nickname") or "",
        status=STATUS_FROM_STRIPE.get(obj.get("status")), cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        current_period_end=_at(period_end))


def customer_subscription_updated(event: WebhookEvent) -> bool:
    obj = _object(event)
    subscription = _subscription_or_wait(obj)
    return subscription is not None and subscription_state_apply(
        subscription=subscription, state=subscription_state(obj), source=event.event_id, state_at=_created(event),
        occurred_at=_at(_created(event)))


def customer_subscription_deleted(event: WebhookEvent) -> bool:
    obj = _object(event)
    subscription = _subscription_or_wait(obj)
    ended = _at(obj.get("ended_at")) or _at(obj.get("canceled_at")) or _at(_created(event))
    return subscription is not None and subscription_cancel(
        subscription=subscription, canceled_at=ended, source=event.event_id, state_at=_created(event))


def charge_refunded(event: WebhookEvent) -> Any:
    charge = _object(event)
    customer_id = _id(charge.get("customer"))
    if customer_id is None:
        logger.warning("Stripe charge %s has no customer; refund ignored", charge.get("id"))
        return None
    return charge_refund_record(client=_client_or_wait(customer_id), charge_id=charge["id"],
                                refunded_total_cents=int(charge.get("amount_refunded") or 0),
                                currency=charge.get("currency") or "usd", occurred_at=_at(_created(event)))


HANDLERS: dict[str, Callable[[WebhookEvent], Any]] = {
    "checkout.session.completed": checkout_session_completed,
    "invoice.paid": invoice_paid,
    "invoice.payment_failed": invoice_payment_failed,
    "customer.subscription.updated": customer_subscription_updated,
    "customer.subscription.deleted": customer_subscription_deleted,
    "charge.refunded": charge_refunded,
}


def stripe_event_wanted(event_type: str) -> bool:
    """Whether we act on (and so store) events of this type."""
    return event_type in HANDLERS


def stripe_event_handle(event: WebhookEvent) -> Any:
    """The one Stripe handler crm.services.webhooks calls: dispatch on the event's type."""
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        raise LookupError(f"No handler for Stripe {event.event_type} events")
    return handler(event)
