"""Money: clients, subscriptions, transactions, commissions, upsells. Cents + currency."""

from decimal import Decimal

from django.conf import settings
from django.db import models

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
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    interval = models.CharField(max_length=10, default="month")
    stripe_subscription_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    started_at = models.DateTimeField()
    current_period_end = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["status"], name="subscription_status")]

    def __str__(self) -> str:
        return f"{self.client} {format_cents(self.amount_cents, self.currency)}/{self.interval}"


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
        indexes = [models.Index(fields=["kind", "occurred_at"], name="transaction_kind_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {format_cents(self.amount_cents, self.currency)}"


class Commission(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commissions"
    )
    transaction = models.ForeignKey(Transaction, on_delete=models.CASCADE, related_name="commissions")
    rate = models.DecimalField(max_digits=5, decimal_places=4, default=Decimal("0.1000"))
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["rep", "transaction"], name="commission_once_per_txn"),
        ]

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
