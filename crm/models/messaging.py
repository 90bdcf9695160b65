"""Texts and calls: templates, sequences, enrolments, messages, calls."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .leads import Lead


class MessageTemplate(models.Model):
    name = models.CharField(max_length=100, unique=True)
    body = models.TextField(
        help_text="Variables: {business_name} {contact_first_name} {first_line} {preview_url} "
        "{rep_name} {company_name} {checkout_url}"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Sequence(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SequenceStep(models.Model):
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    delay_days = models.PositiveSmallIntegerField(
        default=0, help_text="Days after the previous step was sent: 0, 2, 3 gives Day 0, Day 2, Day 5."
    )
    delay_hours = models.PositiveSmallIntegerField(default=0)
    template = models.ForeignKey(MessageTemplate, on_delete=models.PROTECT, related_name="steps")
    send_window_start = models.TimeField(null=True, blank=True)
    send_window_end = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["sequence", "order"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "order"], name="sequence_step_order_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sequence} step {self.order}"


class Enrollment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused (a person took over)"
        COMPLETED = "completed", "Completed"
        STOPPED = "stopped", "Stopped"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrollments")
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    next_step = models.ForeignKey(
        SequenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    stop_reason = models.CharField(max_length=100, blank=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    restart = models.BooleanField(
        default=False, help_text="Started again from step 1 by an admin: steps the lead already received are sent again."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_run_at", "id"], name="enrollment_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "sequence"],
                condition=Q(status__in=["active", "paused"]),
                name="enrollment_one_open_per_sequence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead} in {self.sequence}"


class BulkSend(models.Model):
    """One bulk "Send a text" from the admin: what was asked, and what the gate said at once.
    The texts themselves are Messages pointing here, sent by the worker at their slots."""

    body = models.TextField()
    dedupe_key = models.CharField(max_length=64, help_text="The same text to the same lead within 24 h is skipped.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    selected = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    skipped_duplicates = models.PositiveIntegerField(default=0)
    refused = models.JSONField(default=dict, blank=True, help_text="Refusal reason -> number of leads.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Bulk text #{self.pk} ({self.queued} queued)"


class Message(models.Model):
    class Direction(models.TextChoices):
        OUTBOUND = "out", "Outbound"
        INBOUND = "in", "Inbound"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        RECEIVED = "received", "Received"
        CANCELED = "canceled", "Canceled"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    body = models.TextField()
    from_number = models.CharField(max_length=20, blank=True)
    to_number = models.CharField(max_length=20, blank=True)
    provider_sid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    error_code = models.CharField(max_length=10, blank=True)
    error_message = models.CharField(max_length=255, blank=True)
    enrollment = models.ForeignKey(
        Enrollment, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    sequence_step = models.ForeignKey(
        SequenceStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    bulk_send = models.ForeignKey(
        BulkSend, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    dedupe_key = models.CharField(max_length=64, blank=True)
    # Its slot: planned from the sending number's pace when queued; never sent before it.
    send_at = models.DateTimeField(null=True, blank=True)
    # When a sender flipped it to "sending", just before the provider call.
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="message_lead_time"),
            models.Index(fields=["-created_at", "-id"], name="message_created"),
            models.Index(fields=["status", "created_at"], name="message_status_time"),
            # The sender's claim: the next queued text whose slot has come.
            models.Index(fields=["send_at", "id"], condition=Q(status="queued"), name="message_queued_due"),
            models.Index(fields=["claimed_at"], condition=Q(status="sending"), name="message_in_flight"),
            models.Index(fields=["dedupe_key", "lead", "created_at"], condition=~Q(dedupe_key=""),
                         name="message_dedupe"),
            # A lead's texts in over a period, from the index alone: the rep's "replies" number
            # (crm/selectors/rep_numbers.py) counts them per lead.
            models.Index(fields=["lead", "created_at"], condition=Q(direction="in"), name="message_lead_in"),
        ]
        constraints = [
            # A sequence step is sent at most once per enrolment, whatever crashes or retries.
            models.UniqueConstraint(
                fields=["enrollment", "sequence_step"],
                condition=Q(direction="out", enrollment__isnull=False, sequence_step__isnull=False)
                & ~Q(status="canceled"),
                name="message_one_send_per_enrollment_step",
            ),
        ]

    def __str__(self) -> str:
        arrow = "→" if self.direction == self.Direction.OUTBOUND else "←"
        return f"{arrow} {self.body[:40]}"


class Call(models.Model):
    class Status(models.TextChoices):
        INITIATED = "initiated", "Initiated"
        RINGING = "ringing", "Ringing"
        IN_PROGRESS = "in-progress", "In progress"
        COMPLETED = "completed", "Completed"
        BUSY = "busy", "Busy"
        NO_ANSWER = "no-answer", "No answer"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    class Outcome(models.TextChoices):
        NONE = "", "Not logged"
        CONNECTED = "connected", "Connected"
        NO_ANSWER = "no_answer", "No answer"
        VOICEMAIL = "voicemail", "Left voicemail"
        INTERESTED = "interested", "Interested"
        NOT_INTERESTED = "not_interested", "Not interested"
        CALLBACK = "callback", "Call back later"
        WRONG_NUMBER = "wrong_number", "Wrong number"
        SOLD = "sold", "Sold"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="calls")
    rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    provider_sid = models.CharField(max_length=64, null=True, blank=True, unique=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.INITIATED)
    duration_seconds = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    notes = models.TextField(blank=True)
    callback_at = models.DateTimeField(null=True, blank=True, help_text="When the rep calls back (outcome callback).")
    from_number = models.CharField(max_length=20, blank=True, help_text="Caller id the lead saw.")
    recorded = models.BooleanField(default=False)
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["lead", "-created_at"], name="call_lead_time"),
            models.Index(fields=["rep", "-created_at"], name="call_rep_time"),
        ]

    def __str__(self) -> str:
        return f"Call to {self.lead} ({self.get_status_display()})"


class SavedReply(models.Model):
    """A short text a rep picks in a thread's reply box (merge fields like message templates).
    No owner: shared, managed by admins; with an owner: that rep's own."""

    title = models.CharField(max_length=80)
    body = models.TextField(max_length=640)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_replies",
        help_text="Empty: shared with every rep.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title", "id"]
        verbose_name_plural = "saved replies"

    def __str__(self) -> str:
        return self.title
