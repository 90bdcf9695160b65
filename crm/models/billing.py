"""Money: clients, subscriptions, transactions, commissions, upsells, MRR changes, checkout
sessions. Integer cents + currency everywhere."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from .base import CURRENCY_DEFAULT, format_cents
from .leads import Lead


class Client(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CHURNED = "churned", "Churned"

    lead = models.OneToOneField(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="client"
    )
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="clients"
    )
    stripe_customer_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    churn_risk = models.BooleanField(default=False)
    churn_risk_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Subscription(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="subscriptions")
    plan_name = models.CharField(max_length=100, default="Hosting & care")
    # Price of one unit per interval; the subscription's MRR is amount x quantity per month.
    amount_cents = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField(default=1)
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    interval = models.CharField(max_length=10, default="month")
    stripe_subscription_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_price_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    cancel_at_period_end = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    current_period_end = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # `created` (unix seconds) of the Stripe event whose state was applied last: an older event
    # arriving later never regresses the subscription.
    stripe_state_at = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status"], name="subscription_status")]

    def __str__(self) -> str:
        return f"{self.client} {format_cents(self.amount_cents, self.currency)}/{self.interval}"

    @property
    def mrr_cents(self) -> int:
        """Monthly recurring revenue of this subscription now (0 once canceled)."""
        if self.status == self.Status.CANCELED:
            return 0
        return monthly_cents(self.amount_cents * self.quantity, self.interval)


def monthly_cents(amount_cents: int, interval: str) -> int:
    """An amount per interval as an amount per month (a year's price / 12, a week's x 52 / 12)."""
    if interval == "year":
        return round(amount_cents / 12)
    if interval == "week":
        return round(amount_cents * 52 / 12)
    if interval == "day":
        return round(amount_cents * 365 / 12)
    return amount_cents


class Transaction(models.Model):
    class Kind(models.TextChoices):
        SETUP = "setup", "Setup fee"
        SUBSCRIPTION = "subscription", "Subscription"
        UPSELL = "upsell", "Upsell"
        REFUND = "refund", "Refund"

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        PENDING = "pending", "Pending"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="transactions")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="transactions"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount_cents = models.BigIntegerField(help_text="Negative for refunds.")
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCEEDED)
    provider_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    description = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "occurred_at"], name="transaction_kind_time"),
            # The churn-risk rule "a payment failed lately": failed payments are few.
            models.Index(fields=["client", "occurred_at"], condition=Q(status="failed"), name="transaction_failed"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {format_cents(self.amount_cents, self.currency)}"


class Commission(models.Model):
    """One line of a rep's commission ledger: accrued on a payment (positive) or clawed back
    (negative) on a refund or an early churn. pending -> approved -> paid."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    class Kind(models.TextChoices):
        ACCRUAL = "accrual", "Accrued on a payment"
        REFUND_CLAWBACK = "refund_clawback", "Clawed back: refund"
        CHURN_CLAWBACK = "churn_clawback", "Clawed back: early churn"

    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commissions"
    )
    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="commissions")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACCRUAL)
    rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.1000"))
    amount_cents = models.BigIntegerField(help_text="Negative for a clawback.")
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["rep", "transaction", "kind"], name="commission_once_per_txn"),
        ]
        indexes = [models.Index(fields=["rep", "created_at"], name="commission_rep_time")]

    def __str__(self) -> str:
        return f"{self.rep} {format_cents(self.amount_cents, self.currency)}"


class Upsell(models.Model):
    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="upsells")
    product = models.CharField(max_length=100)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    recurring = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.product} for {self.client}"


class MrrChange(models.Model):
    """One movement of a client's MRR (ChartMogul's kinds), written when a subscription starts,
    changes plan or quantity, churns or comes back. Revenue reports sum these per month."""

    class Kind(models.TextChoices):
        NEW = "new", "New"
        EXPANSION = "expansion", "Expansion"
        CONTRACTION = "contraction", "Contraction"
        CHURN = "churn", "Churn"
        REACTIVATION = "reactivation", "Reactivation"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="mrr_changes")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="mrr_changes")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    delta_cents = models.BigIntegerField(help_text="Change of the client's MRR (negative for contraction and churn).")
    mrr_after_cents = models.BigIntegerField(help_text="The client's MRR after this change.")
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    occurred_at = models.DateTimeField()
    # What caused it (a Stripe event id, "checkout:<session id>", "manual:<n>"): written once.
    source = models.CharField(max_length=100)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["subscription", "source"], name="mrr_change_once")]
        indexes = [models.Index(fields=["occurred_at"], name="mrr_change_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {format_cents(self.delta_cents, self.currency)}"


class CheckoutSession(models.Model):
    """A Stripe Checkout Session opened for a lead's claim link, reused while it is open."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETE = "complete", "Complete"
        EXPIRED = "expired", "Expired"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="checkout_sessions")
    stripe_id = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=1000)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    idempotency_key = models.CharField(max_length=100)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["lead", "expires_at"], condition=Q(status="open"), name="checkout_open")]

    def __str__(self) -> str:
        return f"Checkout {self.stripe_id} for {self.lead_id}"
