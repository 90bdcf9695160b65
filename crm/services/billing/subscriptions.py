"""A subscription's life after checkout: plan and status changes, failed and recovered
payments, cancellation. Each change is saved, then its MRR movement recorded in the same
transaction (crm.services.billing.mrr).

Out-of-order delivery never regresses a subscription: a change stamped older than the last one
applied (`stripe_state_at`, unix seconds) is skipped, and a canceled subscription stays
canceled (Stripe never reopens one; a new subscription is a new row).
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from crm.models import Client, Lead, Notification, Subscription, Transaction, User
from crm.models.base import format_cents
from crm.services.billing.commissions import commissions_clawback_churn
from crm.services.billing.mrr import mrr_change_record
from crm.services.notifications import admins_active, notify


@dataclass(frozen=True)
class SubscriptionState:
    """What the provider says a subscription is now (status None: leave it as it is)."""

    amount_cents: int
    quantity: int
    interval: str
    price_id: str
    plan_name: str
    status: str | None
    cancel_at_period_end: bool
    current_period_end: datetime | None


def billing_recipients(rep: User | None) -> list[User]:
    """Who hears about a client's money: their rep (when active) and every active admin."""
    people = admins_active()
    if rep is not None and rep.is_active and all(user.pk != rep.pk for user in people):
        people.insert(0, rep)
    return people


def _locked(subscription: Subscription) -> Subscription:
    """The subscription and its client, both rows locked (one query)."""
    return Subscription.objects.select_for_update().select_related("client").get(pk=subscription.pk)


def _copy_back(subscription: Subscription, saved: Subscription) -> None:
    """Give the caller's object the values just saved (no query, unlike refresh_from_db)."""
    for field in Subscription._meta.concrete_fields:
        setattr(subscription, field.attname, getattr(saved, field.attname))


def _client_risk(client: Client, at_risk: bool, reason: str = "") -> None:
    client.churn_risk, client.churn_risk_reason = at_risk, reason[:255]
    client.save(update_fields=["churn_risk", "churn_risk_reason"])


def subscription_state_apply(*, subscription: Subscription, state: SubscriptionState, source: str,
                             state_at: int, occurred_at: datetime) -> bool:
    """Apply the provider's state of the subscription unless it is older than the state applied
    last, or the subscription is canceled. Scheduling a cancellation marks the client at risk.
    True when applied."""
    with transaction.atomic(savepoint=False):
        sub = _locked(subscription)
        if state_at < sub.stripe_state_at or sub.status == Subscription.Status.CANCELED:
            return False
        if state.status == Subscription.Status.CANCELED:
            canceled = subscription_cancel(subscription=sub, canceled_at=occurred_at, source=source, state_at=state_at)
            _copy_back(subscription, sub)
            return canceled
        was_scheduled = sub.cancel_at_period_end
        sub.amount_cents, sub.quantity, sub.interval = state.amount_cents, state.quantity, state.interval
        sub.stripe_price_id, sub.plan_name = state.price_id[:64], (state.plan_name or sub.plan_name)[:100]
        sub.status = state.status or sub.status
        sub.cancel_at_period_end = state.cancel_at_period_end
        sub.current_period_end = state.current_period_end or sub.current_period_end
        sub.stripe_state_at = state_at
        sub.save()
        mrr_change_record(subscription=sub, occurred_at=occurred_at, source=source)
        if sub.cancel_at_period_end and not was_scheduled:
            ends = f" on {sub.current_period_end:%b %d, %Y}" if sub.current_period_end else ""
            _client_risk(sub.client, True, f"Cancellation scheduled{ends}")
        elif not sub.cancel_at_period_end and sub.status == Subscription.Status.ACTIVE and sub.client.churn_risk:
            _client_risk(sub.client, False)
    _copy_back(subscription, sub)
    return True


def subscription_cancel(*, subscription: Subscription, canceled_at: datetime, source: str, state_at: int = 0) -> bool:
    """End the subscription (whatever order the news came in: a cancellation is final). The
    client churns when it has no other live subscription, and a churn within the clawback
    window takes back the rep's commissions. True when it was live until now."""
    with transaction.atomic(savepoint=False):
        sub = _locked(subscription)  # the client's row too
        if sub.status == Subscription.Status.CANCELED:
            return False
        sub.status, sub.canceled_at, sub.cancel_at_period_end = Subscription.Status.CANCELED, canceled_at, False
        sub.stripe_state_at = max(sub.stripe_state_at, state_at)
        sub.save()
        mrr_change_record(subscription=sub, occurred_at=canceled_at, source=source)
        client = sub.client
        live = client.subscriptions.exclude(status=Subscription.Status.CANCELED).exists()
        if not live:
            client.status = Client.Status.CHURNED
            client.save(update_fields=["status"])
            commissions_clawback_churn(client_id=client.pk, churned_at=canceled_at)
    _copy_back(subscription, sub)
    return True


def subscription_payment_failed(*, client: Client, subscription: Subscription | None, invoice_id: str, attempt: int,
                                amount_cents: int, currency: str, occurred_at: datetime, state_at: int) -> bool:
    """A failed attempt to collect an invoice: recorded once per (invoice, attempt) as a failed
    transaction; the subscription goes past due (unless a newer state is known), the client is
    at risk, and the rep and admins are told once per attempt. True when this attempt is new."""
    attempt = max(attempt, 1)
    provider_id = f"{invoice_id}:failed:{attempt}"[:64]
    with transaction.atomic(savepoint=False):
        # The unique provider id is the backstop against a concurrent report of the same attempt.
        if Transaction.objects.filter(provider_id=provider_id).exists():
            return False
        Transaction.objects.create(
            provider_id=provider_id, client=client, subscription=subscription, kind=Transaction.Kind.SUBSCRIPTION,
            amount_cents=amount_cents, currency=currency, status=Transaction.Status.FAILED,
            description=f"Invoice {invoice_id}, attempt {attempt}: failed", occurred_at=occurred_at)
        if subscription is not None:
            sub = _locked(subscription)
            if sub.status != Subscription.Status.CANCELED and state_at >= sub.stripe_state_at:
                sub.status, sub.stripe_state_at = Subscription.Status.PAST_DUE, state_at
                sub.save(update_fields=["status", "stripe_state_at"])
        _client_risk(client, True, f"Payment failed on {occurred_at:%b %d} (attempt {attempt})")
        # The notification names the lead by id; its (wide) row is not read.
        lead = Lead(pk=client.lead_id) if client.lead_id else None
        notify(lead=lead, kind=Notification.Kind.PAYMENT_FAILED, recipients=billing_recipients(client.rep),
               text=f"Payment failed for {client.name}: {format_cents(amount_cents, currency)} "
                    f"(attempt {attempt}). The card may need updating.")
    return True


def subscription_payment_succeeded(*, subscription: Subscription, state_at: int) -> None:
    """A paid invoice brings a past-due subscription back to active (unless a newer state is
    known) and lifts the client's payment risk."""
    if subscription.status != Subscription.Status.PAST_DUE:
        return  # the usual case: nothing to lift, no lock to take
    with transaction.atomic(savepoint=False):
        sub = _locked(subscription)
        if sub.status != Subscription.Status.PAST_DUE or state_at < sub.stripe_state_at:
            return
        sub.status, sub.stripe_state_at = Subscription.Status.ACTIVE, state_at
        sub.save(update_fields=["status", "stripe_state_at"])
        if not sub.client.subscriptions.filter(status=Subscription.Status.PAST_DUE).exists():
            _client_risk(sub.client, False)
