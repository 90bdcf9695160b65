"""Money for the demo's paying leads, told the way it happens for real: Stripe events (a
checkout, monthly invoices, a second site, a cheaper plan, a failed card, a cancellation
scheduled, a cancellation and a comeback, a refund) taken in by the same
service as the webhook, and upsells recorded with the admin's "Record payment". So clients,
subscriptions, transactions, commissions, MRR movements, notifications and the stored webhook
events all come from the production code path; only their timestamps are moved back to when
each event happened.
"""

import random
from datetime import datetime, timedelta

from django.db.models import Max

from crm.models import (
    Client,
    Commission,
    Notification,
    TimelineEvent,
    Transaction,
    Upsell,
    User,
    WebhookEvent,
)
from crm.services.billing.commissions import commissions_approve, commissions_mark_paid
from crm.services.billing.payments import payment_record
from crm.services.billing.stripe_intake import stripe_event_accept

from .company import DemoCompany
from .data import UPSELL_PRODUCTS
from .leads import LeadPlan
from .rows import RowCollector, add_months, stripe_id

PLANS = (("Hosting & care", 9_900), ("Hosting & care plus", 14_900))
# Rows the billing services write with "now" in an auto field, moved back to the event's time.
STAMPED = ((Client, ("created_at",)), (Commission, ("created_at",)), (Notification, ("created_at",)),
           (TimelineEvent, ("created_at",)), (WebhookEvent, ("received_at", "processed_at")))
APPROVED_AFTER, PAID_AFTER = timedelta(days=7), timedelta(days=30)


def _high_water() -> dict:
    return {model: model.objects.aggregate(top=Max("pk"))["top"] or 0 for model, _ in STAMPED}


def _stamp(marks: dict, at: datetime, now: datetime) -> None:
    """Date the rows written since `marks` at `at`; notifications older than two days are read."""
    for model, fields in STAMPED:
        rows = model.objects.filter(pk__gt=marks[model])
        values = {name: at for name in fields}
        if model is WebhookEvent:
            values["processed_at"] = at + timedelta(seconds=1)
        rows.update(**values)
        if model is Notification and now - at > timedelta(days=2):
            rows.update(read_at=at + timedelta(hours=2))


class ClientLedger:
    """One paying lead's life as a customer, as Stripe would report it."""

    def __init__(self, plan: LeadPlan, company: DemoCompany, rng: random.Random, now: datetime) -> None:
        self.plan, self.company, self.rng, self.now = plan, company, rng, now
        self.lead = plan.lead
        self.rep: User = plan.rep
        self.plan_name, self.amount = PLANS[1] if rng.random() < 0.2 else PLANS[0]
        self.quantity = 1
        self.customer_id = stripe_id(rng, "cus", 14)
        self.subscription_id = stripe_id(rng, "sub")
        self.client: Client | None = None

    def deliver(self, event_type: str, obj: dict, at: datetime) -> None:
        """One Stripe event, taken in as the webhook takes it, then dated `at`."""
        marks = _high_water()
        stripe_event_accept(payload={
            "id": stripe_id(self.rng, "evt"), "object": "event", "type": event_type, "livemode": False,
            "created": int(at.timestamp()), "data": {"object": {**obj, "customer": self.customer_id}}})
        _stamp(marks, at, self.now)

    def invoice(self, event_type: str, at: datetime, *, setup_cents: int = 0, attempt: int = 1) -> None:
        monthly = self.amount * self.quantity
        lines = [{"id": stripe_id(self.rng, "il"), "amount": monthly, "quantity": self.quantity,
                  "parent": {"type": "subscription_item_details"}}]
        if setup_cents:
            lines.insert(0, {"id": stripe_id(self.rng, "il"), "amount": setup_cents,
                             "parent": {"type": "invoice_item_details"}})
        total = monthly + setup_cents
        paid = event_type == "invoice.paid"
        self.deliver(event_type, {
            "id": stripe_id(self.rng, "in"), "object": "invoice", "currency": "usd", "amount_due": total,
            "amount_paid": total if paid else 0, "attempt_count": attempt,
            "billing_reason": "subscription_create" if setup_cents else "subscription_cycle",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": self.subscription_id}},
            "lines": {"object": "list", "data": lines}}, at)

    def subscription_updated(self, at: datetime, *, cancel_at_period_end: bool = False,
                             period_end: datetime | None = None) -> None:
        """Stripe's customer.subscription.updated with the plan and quantity the ledger holds now."""
        self.deliver("customer.subscription.updated", {
            "id": self.subscription_id, "object": "subscription", "status": "active",
            "cancel_at_period_end": cancel_at_period_end,
            "current_period_end": int(period_end.timestamp()) if period_end else None,
            "items": {"object": "list", "data": [{
                "quantity": self.quantity, "price": {
                    "id": stripe_id(self.rng, "price"), "unit_amount": self.amount, "nickname": self.plan_name,
                    "recurring": {"interval": "month"}}}]}}, at)

    def checkout(self, at: datetime | None = None) -> None:
        """The Stripe checkout and its first invoice (the setup fee + the first month); `at` a
        later checkout of the same customer (a new subscription: back after churning)."""
        setup, paid_at = self.company.settings.setup_fee_cents, at or self.plan.paid_at
        invoice_id = stripe_id(self.rng, "in")
        self.deliver("checkout.session.completed", {
            "id": stripe_id(self.rng, "cs_live", 40), "object": "checkout.session", "mode": "subscription",
            "status": "complete", "payment_status": "paid", "subscription": self.subscription_id,
            "invoice": invoice_id, "amount_total": setup + self.amount, "currency": "usd",
            "created": int(paid_at.timestamp()),
            "metadata": {"lead_id": str(self.lead.pk), "setup_fee_cents": str(setup),
                         "monthly_plan_cents": str(self.amount)}}, paid_at)
        self.client = Client.objects.get(lead=self.lead)
        if self.plan_name != PLANS[0][0]:
            self.subscription_updated(paid_at + timedelta(seconds=1))
        self.invoice("invoice.paid", paid_at + timedelta(seconds=2), setup_cents=setup)

    def renewals(self, *, fail_last: bool = False, cancel_after: int | None = None,
                 changes: dict[int, dict] | None = None) -> datetime | None:
        """Monthly invoices up to today; `changes` {month: {"quantity" or "plan"}} moves the plan
        ten days before that month's invoice. Returns when the subscription was canceled."""
        month = 1
        while (due := add_months(self.plan.paid_at, month)) <= self.now:
            if cancel_after is not None and month > cancel_after:
                canceled_at = due - timedelta(days=3)
                self.deliver("customer.subscription.deleted", {
                    "id": self.subscription_id, "object": "subscription", "status": "canceled"}, canceled_at)
                return canceled_at
            if fail_last and add_months(self.plan.paid_at, month + 1) > self.now:
                self.invoice("invoice.payment_failed", due)
                return None
            change = (changes or {}).get(month)
            if change:
                self.quantity = change.get("quantity", self.quantity)
                self.plan_name, self.amount = change.get("plan", (self.plan_name, self.amount))
                self.subscription_updated(due - timedelta(days=10))
            self.invoice("invoice.paid", due)
            month += 1
        return None

    def schedule_cancellation(self, at: datetime) -> None:
        """The client asked (at `at`) to cancel at the end of the period they paid for, still ahead."""
        month = 1
        while add_months(self.plan.paid_at, month) <= max(at, self.now):
            month += 1
        self.subscription_updated(at, cancel_at_period_end=True, period_end=add_months(self.plan.paid_at, month))

    def come_back(self, at: datetime) -> None:
        """Back after churning: a new checkout (a new subscription) for the same customer."""
        self.subscription_id = stripe_id(self.rng, "sub")
        self.checkout(at)

    def refund(self, amount_cents: int, at: datetime) -> None:
        self.deliver("charge.refunded", {"id": stripe_id(self.rng, "ch"), "object": "charge", "currency": "usd",
                                         "amount": self.company.settings.setup_fee_cents,
                                         "amount_refunded": amount_cents}, at)


def _pick(ledgers: list[ClientLedger], rng: random.Random, taken: set) -> ClientLedger:
    choice = rng.choice([x for x in ledgers if id(x) not in taken])
    taken.add(id(choice))
    return choice


def _commissions_settle(now: datetime) -> None:
    """What the admin did: approved lines a week old, paid the ones a month old."""
    lines = Commission.objects.filter(kind=Commission.Kind.ACCRUAL)
    commissions_approve(commissions=lines.filter(transaction__occurred_at__lte=now - APPROVED_AFTER),
                        now=now - timedelta(days=2))
    commissions_mark_paid(commissions=lines.filter(transaction__occurred_at__lte=now - PAID_AFTER),
                          now=now - timedelta(days=1))


def demo_billing_build(*, paid: list[LeadPlan], company: DemoCompany, rows: RowCollector,
                       rng: random.Random, now: datetime) -> None:
    """Clients and their money for every paid lead (the leads must be saved). Upsell offers
    are queued on `rows`; everything else is written now, through the billing services."""
    paid = sorted(paid, key=lambda p: p.paid_at)
    ledgers = [ClientLedger(plan, company, rng, now) for plan in paid]
    # Every MRR movement ChartMogul names: new (each checkout), expansion (a second site),
    # contraction (down to the cheaper plan), churn, reactivation (the churned client back).
    oldest = [x for x in ledgers if now - x.plan.paid_at > timedelta(days=62)]
    taken: set = set()
    churned = _pick(oldest, rng, taken)
    expanded = _pick(oldest, rng, taken)
    contracted = _pick(oldest, rng, taken)
    contracted.plan_name, contracted.amount = PLANS[1]
    for ledger in ledgers:
        ledger.checkout()
    past_due = _pick([x for x in ledgers if now - x.plan.paid_at > timedelta(days=31)], rng, taken)
    canceled_at = churned.renewals(cancel_after=1)
    churned.come_back(canceled_at + (now - canceled_at) / 2)
    past_due.renewals(fail_last=True)
    expanded.renewals(changes={2: {"quantity": 2}})
    contracted.renewals(changes={2: {"plan": PLANS[0]}})
    for ledger in ledgers:
        if id(ledger) not in taken:
            ledger.renewals()
    cancelling = _pick([x for x in ledgers if now - x.plan.paid_at > timedelta(days=10)], rng, taken)
    cancelling.schedule_cancellation(now - timedelta(days=2))

    refunded = _pick(ledgers, rng, taken)
    refunded.refund(10_000, min(refunded.plan.paid_at + timedelta(days=rng.randint(3, 9)), now - timedelta(hours=1)))

    excluded: set = {id(churned), id(past_due), id(cancelling)}
    statuses = (Upsell.Status.PROPOSED, Upsell.Status.DECLINED, Upsell.Status.ACCEPTED,
                Upsell.Status.ACCEPTED)
    for (product, amount, recurring), status in zip(UPSELL_PRODUCTS, statuses, strict=True):
        ledger = _pick(ledgers, rng, excluded)
        at = ledger.plan.paid_at + timedelta(days=rng.randint(10, 25))
        at = min(at, now - timedelta(hours=rng.randint(2, 48)))
        rows.add(Upsell(client=ledger.client, product=product, amount_cents=amount,
                        recurring=recurring, status=status, rep=ledger.rep), at=at)
        if status == Upsell.Status.ACCEPTED:
            marks = _high_water()
            payment_record(client_id=ledger.client.pk, amount_cents=amount, kind=Transaction.Kind.UPSELL,
                           occurred_at=at + timedelta(hours=1), actor=company.admin, note=product)
            _stamp(marks, at + timedelta(hours=1), now)
    _commissions_settle(now)
