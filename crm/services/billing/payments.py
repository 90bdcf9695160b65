"""Money coming in (and going back): a completed checkout, a paid invoice, a refund, a payment an
admin records by hand. Stripe's webhooks, the admin's "Record payment" and "Mark won", the local
checkout page and the demo data all come through here, so each writes the same rows.

Every payment is one Transaction (unique provider id where there is one), its commission
accrued (or clawed back) in the same transaction, so a payment reported twice lands once.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from crm.models import (
    CheckoutSession,
    Client,
    CompanySettings,
    Lead,
    Notification,
    Subscription,
    TimelineEvent,
    Transaction,
)
from crm.models.base import format_cents
from crm.services.billing.commissions import commission_accrue, commission_clawback_refund
from crm.services.billing.mrr import mrr_change_record
from crm.services.billing.subscriptions import billing_recipients, subscription_payment_succeeded
from crm.services.leads import lead_bulk_set_status
from crm.services.messaging.optout import lead_sequences_stop
from crm.services.notifications import notify

MANUAL_SESSION_PREFIX = "manual:"
RECORDABLE_KINDS = (Transaction.Kind.SETUP, Transaction.Kind.SUBSCRIPTION, Transaction.Kind.UPSELL,
                    Transaction.Kind.REFUND)
# How far ahead of the clock a payment typed by a person may be dated (clock skew, time zones).
FUTURE_SLACK = timedelta(minutes=5)


def _client_for_lead(lead: Lead, customer_id: str | None) -> tuple[Client, bool]:
    """The lead's client: the one holding this Stripe customer, else the lead's own, else new
    (one query to look, whichever it is); and whether it was created now."""
    found = Client.objects.select_related("rep").filter(
        Q(lead=lead) | Q(stripe_customer_id=customer_id) if customer_id else Q(lead=lead))
    client = min(found, key=lambda c: (not customer_id or c.stripe_customer_id != customer_id, c.pk), default=None)
    if client is None:
        return Client.objects.create(lead=lead, name=lead.business_name, email=lead.email, phone=lead.phone,
                                     rep=lead.assigned_rep, stripe_customer_id=customer_id or None), True
    changed = []
    if customer_id and not client.stripe_customer_id:
        client.stripe_customer_id = customer_id
        changed.append("stripe_customer_id")
    if client.rep_id is None and lead.assigned_rep_id:
        client.rep = lead.assigned_rep
        changed.append("rep")
    if client.status != Client.Status.ACTIVE:
        client.status = Client.Status.ACTIVE
        changed.append("status")
    if changed:
        client.save(update_fields=changed)
    return client, False


def _subscription_open(*, client: Client, subscription_id: str | None, amount_cents: int, currency: str,
                       started_at: datetime, price_id: str) -> Subscription:
    existing = (Subscription.objects.filter(stripe_subscription_id=subscription_id).first()
                if subscription_id else None)
    if existing is not None:
        return existing
    return Subscription.objects.create(
        client=client, amount_cents=amount_cents, currency=currency, stripe_subscription_id=subscription_id,
        stripe_price_id=price_id, started_at=started_at)


def _payment_timeline(client: Client, *, amount_cents: int, currency: str, kind: str, actor=None) -> None:
    if client.lead_id:
        TimelineEvent.objects.create(lead_id=client.lead_id, kind=TimelineEvent.Kind.PAYMENT, actor=actor,
                                     data={"amount_cents": amount_cents, "currency": currency, "kind": kind})


# What checkout_complete reads of the lead (the row is wide; its rep comes in the same query).
LEAD_FIELDS = ("business_name", "email", "phone", "status", "assigned_rep")


def checkout_complete(*, lead_id: int, session_id: str, customer_id: str, subscription_id: str | None,
                      setup_amount_cents: int | None, monthly_amount_cents: int | None, currency: str,
                      occurred_at: datetime, setup_payment_id: str, actor=None) -> Client:
    """The lead paid: their Client (found by Stripe customer or lead, else created from the lead),
    a Subscription for the monthly plan (none when it is 0), the setup-fee Transaction
    (`setup_payment_id`, at most 64 characters), the rep's commission, the MRR movement, the
    CheckoutSession complete, the lead PAID with its sequences stopped, the rep and admins told
    and a timeline event. Amounts or currency not given (None, "") are the company's. Idempotent
    per session: a second call returns the same Client and writes nothing (concurrent calls for
    one lead wait for each other on the lead's row)."""
    company = CompanySettings.load()
    setup_amount_cents = company.setup_fee_cents if setup_amount_cents is None else setup_amount_cents
    monthly_amount_cents = company.monthly_plan_cents if monthly_amount_cents is None else monthly_amount_cents
    currency = (currency or company.currency).lower()
    with transaction.atomic(savepoint=False):
        lead = (Lead.objects.select_for_update(of=("self",)).select_related("assigned_rep").only(*LEAD_FIELDS)
                .get(pk=lead_id))
        done = Transaction.objects.filter(provider_id=setup_payment_id).select_related("client").first()
        if done is not None:
            return done.client
        client, created = _client_for_lead(lead, customer_id)
        setup = Transaction.objects.create(
            client=client, kind=Transaction.Kind.SETUP, amount_cents=setup_amount_cents, currency=currency,
            provider_id=setup_payment_id, description="Website setup fee", occurred_at=occurred_at)
        commission_accrue(txn=setup, new=True)
        if monthly_amount_cents > 0:
            subscription = _subscription_open(client=client, subscription_id=subscription_id,
                                              amount_cents=monthly_amount_cents, currency=currency,
                                              started_at=occurred_at, price_id=company.stripe_monthly_price_id)
            mrr_change_record(subscription=subscription, occurred_at=occurred_at, source=f"checkout:{session_id}",
                              client_created=created and subscription.client_id == client.pk)
        if not session_id.startswith(MANUAL_SESSION_PREFIX):
            CheckoutSession.objects.filter(stripe_id=session_id).update(status=CheckoutSession.Status.COMPLETE)
        if lead.status != Lead.Status.PAID:
            lead_bulk_set_status(leads=Lead.objects.filter(pk=lead.pk), status=Lead.Status.PAID, actor=actor)
        lead_sequences_stop(lead_id=lead.pk, reason="paid", now=timezone.now())
        _payment_timeline(client, amount_cents=setup_amount_cents, currency=currency, kind="checkout", actor=actor)
        monthly = f" + {format_cents(monthly_amount_cents, currency)}/month" if monthly_amount_cents else ""
        notify(lead=lead, kind=Notification.Kind.PAYMENT, recipients=billing_recipients(client.rep),
               text=f"{client.name} paid {format_cents(setup_amount_cents, currency)} setup{monthly}.")
    return client


def lead_mark_won(*, lead: Lead, actor, now=None) -> Client:
    """A lead who paid outside Stripe: the same checkout as a paid Stripe session, at the
    company's prices, with a "manual:" session id (once per lead)."""
    company = CompanySettings.load()
    session_id = f"{MANUAL_SESSION_PREFIX}lead-{lead.pk}"
    return checkout_complete(
        lead_id=lead.pk, session_id=session_id, customer_id="", subscription_id=None,
        setup_amount_cents=company.setup_fee_cents, monthly_amount_cents=company.monthly_plan_cents,
        currency=company.currency, occurred_at=now or timezone.now(), setup_payment_id=f"{session_id}:setup",
        actor=actor)


def _book(*, client: Client, kind: str, amount_cents: int, currency: str, occurred_at: datetime,
          provider_id: str | None, description: str, subscription: Subscription | None = None,
          actor=None) -> tuple[Transaction, bool]:
    """One payment (or refund) and its commission line; (existing, False) when its provider id
    was recorded before."""
    defaults = {"client": client, "subscription": subscription, "kind": kind, "amount_cents": amount_cents,
                "currency": currency, "description": description[:255], "occurred_at": occurred_at}
    # The unique provider id is the backstop: a concurrent writer of the same payment fails its
    # event (retried, then finding this row) instead of booking it twice.
    existing = Transaction.objects.filter(provider_id=provider_id).first() if provider_id else None
    if existing is not None:
        return existing, False
    txn = Transaction.objects.create(provider_id=provider_id or None, **defaults)
    if kind == Transaction.Kind.REFUND:
        commission_clawback_refund(refund=txn, new=True)
    else:
        commission_accrue(txn=txn, new=True)
    _payment_timeline(client, amount_cents=amount_cents, currency=currency, kind=kind, actor=actor)
    return txn, True


def payment_record(*, client_id: int, amount_cents: int, kind: str, occurred_at, actor, note: str = "") -> Transaction:
    """A payment an admin records by hand (no Stripe): one Transaction, its commission accrued
    as for a paid invoice; a refund (amount given positive) is stored negative and claws the
    commission back. Bad input raises ValidationError and writes nothing."""
    if kind not in RECORDABLE_KINDS:
        raise ValidationError({"kind": f"Choose one of: {', '.join(RECORDABLE_KINDS)}."})
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents <= 0:
        raise ValidationError({"amount_cents": "Enter an amount above zero."})
    if occurred_at is None or occurred_at > timezone.now() + FUTURE_SLACK:
        raise ValidationError({"occurred_at": "A payment cannot be dated in the future."})
    with transaction.atomic():
        client = Client.objects.select_for_update().filter(pk=client_id).first()
        if client is None:
            raise ValidationError("That client does not exist.")
        live = client.subscriptions.exclude(status=Subscription.Status.CANCELED).order_by("-started_at").first()
        currency = live.currency if live else CompanySettings.load().currency
        signed = -amount_cents if kind == Transaction.Kind.REFUND else amount_cents
        txn, _ = _book(client=client, kind=kind, amount_cents=signed, currency=currency, occurred_at=occurred_at,
                       provider_id=None, description=note or f"{Transaction.Kind(kind).label}, recorded by hand",
                       subscription=live if kind == Transaction.Kind.SUBSCRIPTION else None, actor=actor)
    return txn


def invoice_paid_record(*, client: Client, subscription: Subscription | None, invoice_id: str, amount_cents: int,
                        currency: str, occurred_at: datetime, state_at: int) -> Transaction | None:
    """A paid subscription invoice: one Transaction per invoice and its commission; a past-due
    subscription is active again. None when nothing was charged."""
    if amount_cents <= 0:
        return None
    with transaction.atomic(savepoint=False):
        txn, _ = _book(client=client, kind=Transaction.Kind.SUBSCRIPTION, amount_cents=amount_cents, currency=currency,
                       occurred_at=occurred_at, provider_id=invoice_id, subscription=subscription,
                       description=f"{subscription.plan_name if subscription else 'Subscription'}, "
                                   f"invoice {invoice_id}")
        if subscription is not None:
            subscription_payment_succeeded(subscription=subscription, state_at=state_at)
    return txn


def charge_refund_record(*, client: Client, charge_id: str, refunded_total_cents: int, currency: str,
                         occurred_at: datetime) -> Transaction | None:
    """A charge refunded (in part or in full) up to `refunded_total_cents` so far: a negative
    Transaction for what is new since the refunds already recorded on this charge, and the
    commission clawed back on it. Reports of a smaller total (older, or repeated) write nothing."""
    prefix = f"{charge_id}:refund:"
    with transaction.atomic(savepoint=False):
        # One refund writer per client.
        Client.objects.select_for_update().filter(pk=client.pk).values_list("pk", flat=True).first()
        before = -(Transaction.objects.filter(client=client, kind=Transaction.Kind.REFUND,
                                              provider_id__startswith=prefix)
                   .aggregate(s=Sum("amount_cents"))["s"] or 0)
        new = refunded_total_cents - before
        if new <= 0:
            return None
        txn, created = _book(client=client, kind=Transaction.Kind.REFUND, amount_cents=-new, currency=currency,
                             occurred_at=occurred_at, provider_id=f"{prefix}{refunded_total_cents}",
                             description=f"Refund on charge {charge_id}")
    return txn if created else None
