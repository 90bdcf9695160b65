"""Money for the demo's paying leads: clients, subscriptions, payments, commissions, upsells,
and the provider webhooks that would have reported them."""

import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from crm.models import (
    Client,
    Commission,
    Notification,
    Subscription,
    TimelineEvent,
    Transaction,
    Upsell,
    User,
    WebhookEvent,
)
from crm.models.base import format_cents

from .company import DemoCompany
from .data import UPSELL_PRODUCTS
from .leads import LeadPlan
from .rows import RowCollector, add_months, stripe_id

PLANS = (("Hosting & care", 9_900), ("Hosting & care plus", 14_900))
T = Transaction.Kind


class ClientLedger:
    """One paying lead's client record and everything billed to it."""

    def __init__(self, plan: LeadPlan, company: DemoCompany, rows: RowCollector,
                 rng: random.Random, now: datetime) -> None:
        self.plan, self.company, self.rows, self.rng, self.now = plan, company, rows, rng, now
        self.lead = plan.lead
        self.rep: User = plan.rep
        self.rate = company.rep_rate(self.rep)
        plan_name, amount = PLANS[1] if rng.random() < 0.2 else PLANS[0]
        self.client = Client(
            lead=self.lead, name=self.lead.business_name, email=self.lead.email,
            phone=self.lead.phone, rep=self.rep, stripe_customer_id=stripe_id(rng, "cus", 14),
        )
        rows.add(self.client, at=plan.paid_at)
        self.subscription = Subscription(
            client=self.client, plan_name=plan_name, amount_cents=amount,
            stripe_subscription_id=stripe_id(rng, "sub"), started_at=plan.paid_at,
        )
        rows.add(self.subscription)

    def charge(self, kind: str, amount: int, at: datetime, description: str,
               status: str = Transaction.Status.SUCCEEDED) -> Transaction:
        prefix = {T.REFUND: "re", T.SUBSCRIPTION: "in"}.get(kind, "pi")
        txn = Transaction(
            client=self.client, subscription=self.subscription if kind == T.SUBSCRIPTION else None,
            kind=kind, amount_cents=amount, status=status, provider_id=stripe_id(self.rng, prefix),
            description=description, occurred_at=at,
        )
        self.rows.add(txn)
        if status == Transaction.Status.SUCCEEDED:
            age = self.now - at
            commission_status = (Commission.Status.PAID if age > timedelta(days=30) else
                                 Commission.Status.APPROVED if age > timedelta(days=7) else
                                 Commission.Status.PENDING)
            if amount < 0:  # a refund claws back the commission on it
                commission_status = Commission.Status.PENDING
            share = (Decimal(amount) * self.rate).quantize(Decimal("1"), rounding=ROUND_HALF_UP)
            self.rows.add(Commission(rep=self.rep, transaction=txn, rate=self.rate,
                                     amount_cents=int(share), status=commission_status), at=at)
        return txn

    def notify(self, kind: str, text: str, at: datetime) -> None:
        for recipient in (self.rep, self.company.admin):
            read_at = at + timedelta(hours=2) if self.now - at > timedelta(days=2) else None
            self.rows.add(Notification(recipient=recipient, lead=self.lead, kind=kind, text=text,
                                       read_at=read_at), at=at)

    def webhook(self, event_type: str, at: datetime, obj: dict) -> None:
        event_id = stripe_id(self.rng, "evt")
        payload = {"id": event_id, "object": "event", "type": event_type,
                   "created": int(at.timestamp()), "livemode": False, "data": {"object": obj}}
        self.rows.add(WebhookEvent(source=WebhookEvent.Source.STRIPE, event_id=event_id,
                                   event_type=event_type, payload=payload, attempts=1,
                                   processed_at=at + timedelta(seconds=1)), received_at=at)

    def checkout(self) -> None:
        settings, paid_at = self.company.settings, self.plan.paid_at
        setup = self.charge(T.SETUP, settings.setup_fee_cents, paid_at, "Website setup fee")
        sub = self.subscription
        self.charge(T.SUBSCRIPTION, sub.amount_cents, paid_at + timedelta(seconds=2),
                    f"{sub.plan_name}, first month")
        total = setup.amount_cents + sub.amount_cents
        self.rows.add(TimelineEvent(lead=self.lead, kind=TimelineEvent.Kind.PAYMENT,
                                    data={"amount_cents": total, "currency": "usd",
                                          "kind": "checkout"}), at=paid_at)
        self.notify(Notification.Kind.PAYMENT,
                    f"{self.client.name} paid {format_cents(setup.amount_cents)} setup + "
                    f"{format_cents(sub.amount_cents)}/month", paid_at)
        self.webhook("checkout.session.completed", paid_at, {
            "id": stripe_id(self.rng, "cs_live", 40), "object": "checkout.session",
            "customer": self.client.stripe_customer_id, "subscription": sub.stripe_subscription_id,
            "amount_total": total, "currency": "usd", "payment_status": "paid",
            "metadata": {"lead_id": str(self.lead.pk)},
        })

    def renewals(self, *, fail_last: bool = False, cancel_after: int | None = None) -> int:
        """Monthly invoices up to today; returns how many periods are paid for."""
        sub, paid_periods, month = self.subscription, 1, 1
        while (due := add_months(self.plan.paid_at, month)) <= self.now:
            if cancel_after is not None and month > cancel_after:
                sub.status, sub.canceled_at = Subscription.Status.CANCELED, due - timedelta(days=3)
                self.client.status = Client.Status.CHURNED
                self.webhook("customer.subscription.deleted", sub.canceled_at,
                             {"id": sub.stripe_subscription_id, "object": "subscription",
                              "status": "canceled"})
                break
            is_last = add_months(self.plan.paid_at, month + 1) > self.now
            label = f"{sub.plan_name}, {due:%B %Y}"
            if fail_last and is_last:
                self.charge(T.SUBSCRIPTION, sub.amount_cents, due, label, Transaction.Status.FAILED)
                sub.status = Subscription.Status.PAST_DUE
                self.client.churn_risk = True
                self.client.churn_risk_reason = f"Card declined on the {due:%b %d} invoice"
                self.notify(Notification.Kind.PAYMENT_FAILED,
                            f"Payment failed for {self.client.name}: card declined", due)
                self.webhook("invoice.payment_failed", due, {
                    "id": stripe_id(self.rng, "in"), "object": "invoice",
                    "customer": self.client.stripe_customer_id, "amount_due": sub.amount_cents,
                    "subscription": sub.stripe_subscription_id})
                break
            txn = self.charge(T.SUBSCRIPTION, sub.amount_cents, due, label)
            if month == 1:
                self.webhook("invoice.paid", due, {
                    "id": txn.provider_id, "object": "invoice", "amount_paid": sub.amount_cents,
                    "customer": self.client.stripe_customer_id,
                    "subscription": sub.stripe_subscription_id})
            paid_periods += 1
            month += 1
        if sub.status != Subscription.Status.CANCELED:
            sub.current_period_end = add_months(self.plan.paid_at, paid_periods)
        return paid_periods


def _pick(ledgers: list[ClientLedger], rng: random.Random, taken: set) -> ClientLedger:
    choice = rng.choice([x for x in ledgers if id(x) not in taken])
    taken.add(id(choice))
    return choice


def demo_billing_build(*, paid: list[LeadPlan], company: DemoCompany, rows: RowCollector,
                       rng: random.Random, now: datetime) -> None:
    """Queue clients and their money for every paid lead (the leads must be saved)."""
    paid = sorted(paid, key=lambda p: p.paid_at)
    ledgers = [ClientLedger(plan, company, rows, rng, now) for plan in paid]
    for ledger in ledgers:
        ledger.checkout()
    oldest = [x for x in ledgers if now - x.plan.paid_at > timedelta(days=62)]
    taken: set = set()
    churned = _pick(oldest, rng, taken)
    past_due = _pick([x for x in ledgers if now - x.plan.paid_at > timedelta(days=31)], rng, taken)
    churned.renewals(cancel_after=1)
    past_due.renewals(fail_last=True)
    for ledger in ledgers:
        if id(ledger) not in taken:
            ledger.renewals()

    refunded = _pick(ledgers, rng, taken)
    at = min(refunded.plan.paid_at + timedelta(days=rng.randint(3, 9)), now - timedelta(hours=1))
    refund = refunded.charge(T.REFUND, -10_000, at, "Partial refund: launch slipped a week")
    refunded.webhook("charge.refunded", at, {"id": refund.provider_id, "object": "refund",
                                             "amount": 10_000, "currency": "usd"})

    excluded: set = {id(churned), id(past_due)}
    statuses = (Upsell.Status.PROPOSED, Upsell.Status.DECLINED, Upsell.Status.ACCEPTED,
                Upsell.Status.ACCEPTED)
    for (product, amount, recurring), status in zip(UPSELL_PRODUCTS, statuses, strict=True):
        ledger = _pick(ledgers, rng, excluded)
        at = ledger.plan.paid_at + timedelta(days=rng.randint(10, 25))
        at = min(at, now - timedelta(hours=rng.randint(2, 48)))
        rows.add(Upsell(client=ledger.client, product=product, amount_cents=amount,
                        recurring=recurring, status=status, rep=ledger.rep), at=at)
        if status == Upsell.Status.ACCEPTED:
            ledger.charge(T.UPSELL, amount, at + timedelta(hours=1), product)
