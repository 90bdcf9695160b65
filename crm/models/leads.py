"""Leads, where they came from, and what happened to them."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


def new_preview_token() -> str:
    """192 random bits, URL-safe: unguessable preview links."""
    return secrets.token_urlsafe(24)


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CHECKING = "checking", "Checking rows (dry run)"
        PREVIEWED = "previewed", "Previewed: waiting for confirmation"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        REVERTED = "reverted", "Reverted"

    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    original_name = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="import_batches",
    )
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    error_report = models.JSONField(default=list, blank=True)
    summary = models.JSONField(
        default=dict, blank=True, help_text="Dry-run samples, notes and the column mapping."
    )
    error_message = models.TextField(blank=True)
    consent_source = models.CharField(max_length=200, blank=True)
    consent_wording = models.TextField(blank=True)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "import batches"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.original_name}".strip()

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class Lead(models.Model):
    class Status(models.TextChoices):
        NEW = "NEW", "New"
        CONTACTED = "CONTACTED", "Contacted"
        ENGAGED = "ENGAGED", "Engaged"
        REPLIED = "REPLIED", "Replied"
        NEGOTIATING = "NEGOTIATING", "Negotiating"
        PAID = "PAID", "Paid"
        LOST = "LOST", "Lost"

    class Priority(models.TextChoices):
        NORMAL = "NORMAL", "Normal"
        WARM = "WARM", "Warm"
        HOT = "HOT", "Hot"

    class PipelineStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        NOT_FOUND = "not_found", "Not found"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    business_name = models.CharField(max_length=255)
    contact_first_name = models.CharField(max_length=100, blank=True)
    contact_last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +15551234567")
    email = models.EmailField(blank=True)
    website = models.URLField(max_length=500, blank=True)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True)
    state = models.CharField(max_length=50, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US")
    category = models.CharField(max_length=100, blank=True)
    source_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=6, choices=Priority.choices, default=Priority.NORMAL)
    assigned_rep = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="leads", db_index=False,  # the lead_rep_* indexes start with it
    )
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    time_zone = models.CharField(max_length=64, blank=True)
    time_zone_source = models.CharField(
        max_length=20, blank=True, help_text="coordinates, state, area_code or manual"
    )
    enrichment_data = models.JSONField(default=dict, blank=True)
    enrichment_status = models.CharField(
        max_length=10, choices=PipelineStatus.choices, default=PipelineStatus.PENDING
    )
    enrichment_error = models.TextField(blank=True)
    enrichment_attempts = models.PositiveSmallIntegerField(default=0)
    enriched_at = models.DateTimeField(null=True, blank=True)
    first_line = models.CharField(max_length=320, blank=True)
    first_line_status = models.CharField(
        max_length=10, choices=PipelineStatus.choices, default=PipelineStatus.PENDING
    )
    first_line_source = models.CharField(max_length=100, blank=True)
    first_line_facts = models.JSONField(default=dict, blank=True)
    engagement_score = models.FloatField(default=0)
    preview_views = models.PositiveIntegerField(default=0)
    preview_clicks = models.PositiveIntegerField(default=0)
    preview_seconds = models.PositiveIntegerField(default=0)
    inbound_messages = models.PositiveIntegerField(default=0)
    consent_source = models.CharField(max_length=200, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    number_flagged_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when a carrier says the number cannot take texts."
    )
    needs_human_at = models.DateTimeField(null=True, blank=True)
    hot_at = models.DateTimeField(null=True, blank=True)
    last_contacted_at = models.DateTimeField(null=True, blank=True)
    last_viewed_at = models.DateTimeField(null=True, blank=True)
    # Unique by a constraint, not unique=True: that would add a LIKE index no query uses.
    preview_token = models.CharField(max_length=64, default=new_preview_token, editable=False)
    notes = models.TextField(blank=True)
    # What the rep does next and when: the lead leaves the rep's queue until then.
    next_action = models.CharField(max_length=200, blank=True)
    next_action_at = models.DateTimeField(null=True, blank=True)
    # Set with the next action when it is a callback the lead asked for (a call logged
    # "callback"): the queue's "Callback due" bucket, told apart from a plain follow-up.
    next_action_is_callback = models.BooleanField(default=False, editable=False)
    # The newest text from the lead while nobody has answered it (no text sent to the lead and
    # no call the lead answered since); None when answered or never texted. Kept by
    # crm.services.reply_waiting alone: the queue's "Reply waiting" bucket reads it.
    awaiting_reply_since = models.DateTimeField(null=True, blank=True, editable=False)
    # The newest text from the lead, answered or not; None when it never texted. Kept by
    # crm.services.reply_waiting with the above: the rep's "replies" number starts from the
    # leads that texted since the period began (lead_rep_replied) instead of from every text.
    last_reply_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["assigned_rep", "next_action_at"], name="lead_rep_next_action"),
            models.Index(fields=["assigned_rep", "-hot_at"], condition=Q(priority="HOT"), name="lead_rep_hot"),
            # The queue's "Reply waiting" bucket (crm/selectors/queue.py): a few rows per rep.
            models.Index(fields=["assigned_rep", "awaiting_reply_since"],
                         condition=Q(awaiting_reply_since__isnull=False), name="lead_rep_awaiting"),
            # The rep's "replies" number (crm/selectors/rep_numbers.py): the leads that texted
            # since a date, read from the index alone (id included).
            models.Index(fields=["assigned_rep", "last_reply_at", "id"], condition=Q(last_reply_at__isnull=False),
                         name="lead_rep_replied"),
            models.Index(fields=["assigned_rep", "priority", "status"], name="lead_rep_prio_status"),
            models.Index(fields=["assigned_rep", "-created_at", "-id"], name="lead_rep_created"),
            models.Index(fields=["-created_at", "-id"], name="lead_created"),
            # The dashboard's contacted and turned-hot counts over a date range (crm/selectors/reporting.py).
            models.Index(fields=["last_contacted_at"], name="lead_contacted"),
            models.Index(fields=["hot_at"], name="lead_hot_at"),
            models.Index(fields=["status"], name="lead_status"),
            models.Index(fields=["enrichment_status"], name="lead_enrichment_status"),
            models.Index(fields=["priority", "last_viewed_at"], name="lead_priority_last_viewed"),
            # The lead list sorted by score. Its search box has a trigram index too, made on
            # PostgreSQL only by migration 0013 (crm.selectors.lead_search).
            models.Index(fields=["-engagement_score", "-id"], name="lead_engagement"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(phone__startswith="+"), name="lead_phone_e164"),
            models.UniqueConstraint(fields=["preview_token"], name="lead_preview_token_unique"),
        ]

    def __str__(self) -> str:
        return self.business_name

    @property
    def contact_name(self) -> str:
        return f"{self.contact_first_name} {self.contact_last_name}".strip()

    @property
    def is_opted_out(self) -> bool:
        return self.opted_out_at is not None


class TimelineEvent(models.Model):
    class Kind(models.TextChoices):
        IMPORTED = "imported", "Imported"
        ENRICHED = "enriched", "Enriched"
        PERSONALISED = "personalised", "First line written"
        ENROLLED = "enrolled", "Enrolled in sequence"
        SEQUENCE_STOPPED = "sequence_stopped", "Sequence stopped"
        MESSAGE_OUT = "message_out", "Text sent"
        MESSAGE_IN = "message_in", "Text received"
        PREVIEW_VIEW = "preview_view", "Preview viewed"
        CTA_CLICK = "cta_click", "Preview button clicked"
        HOT = "hot", "Became hot"
        CALL = "call", "Call"
        NOTE = "note", "Note"
        STATUS_CHANGE = "status_change", "Status changed"
        ASSIGNED = "assigned", "Assigned"
        CHECKOUT_SENT = "checkout_sent", "Checkout link sent"
        PAYMENT = "payment", "Payment"
        OPT_OUT = "opt_out", "Opted out"
        OPT_IN = "opt_in", "Opted back in"
        ADDED = "added", "Added by hand"
        EDITED = "edited", "Details edited"
        CONSENT_CHANGED = "consent_changed", "Consent changed"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="timeline",
                             db_index=False)  # timeline_lead_time starts with it
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["lead", "-created_at"], name="timeline_lead_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} - {self.lead_id}"
