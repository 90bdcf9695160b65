"""Operational records: notifications to staff and every webhook received."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .leads import Lead


class Notification(models.Model):
    class Kind(models.TextChoices):
        HOT_LEAD = "hot_lead", "Hot lead"
        REPLY = "reply", "Reply"
        PAYMENT = "payment", "Payment"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        SEND_FAILED = "send_failed", "Send failed"
        NEEDS_HUMAN = "needs_human", "Needs a human"
        WEBHOOK_FAILED = "webhook_failed", "Webhook failed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.CharField(max_length=500)
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return self.text[:60]


class WebhookEvent(models.Model):
    class Source(models.TextChoices):
        TWILIO_SMS = "twilio_sms", "Twilio SMS"
        TWILIO_STATUS = "twilio_status", "Twilio status"
        TWILIO_VOICE = "twilio_voice", "Twilio voice"
        STRIPE = "stripe", "Stripe"

    source = models.CharField(max_length=16, choices=Source.choices)
    event_id = models.CharField(max_length=100)
    # The provider object the event is about (MessageSid, CallSid, a Stripe object id).
    object_id = models.CharField(max_length=100, blank=True)
    event_type = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # Not processed yet: when the scheduled retry takes it again (backoff after each failure).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set once, when retries ran out and admins were told.
    flagged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "event_id"], name="webhook_event_once"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(processed_at__isnull=True), name="webhook_retry_due"),
            models.Index(fields=["source", "object_id"], condition=Q(processed_at__isnull=True),
                         name="webhook_waiting_object"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event_type} {self.event_id}"


class ProviderThrottle(models.Model):
    """The next free request slot per provider, shared by every worker (database limiter)."""

    provider = models.CharField(max_length=32, unique=True)
    next_slot_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.provider} next slot {self.next_slot_at:%H:%M:%S.%f}"


class WorkerLease(models.Model):
    """A named lease a worker holds while it runs a loop only a few may run at once (the SMS
    sender); it expires by itself, so a killed worker's lease frees up without anyone's help."""

    name = models.CharField(max_length=64, unique=True)
    holder = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'} until {self.expires_at:%H:%M:%S}"
