"""People and company-wide configuration: users, rep profiles, settings, targets."""

from datetime import time
from decimal import Decimal
from zoneinfo import available_timezones

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property

from .base import CURRENCY_DEFAULT

ROLE_ADMIN = "ADMIN"
ROLE_REP = "REP"

TIME_ZONE_CHOICES = sorted((tz, tz) for tz in available_timezones() if "/" in tz)


class User(AbstractUser):
    """A staff member. The role is the Django group (ADMIN or REP)."""

    time_zone = models.CharField(
        max_length=64,
        choices=TIME_ZONE_CHOICES,
        default="America/New_York",
        help_text="Times in the admin are shown in this zone.",
    )

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"

    @cached_property
    def role(self) -> str:
        """ADMIN or REP (from the groups, read once per instance), or "" for neither."""
        if self.is_superuser:
            return ROLE_ADMIN
        names = set(self.groups.values_list("name", flat=True))
        if ROLE_ADMIN in names:
            return ROLE_ADMIN
        if ROLE_REP in names:
            return ROLE_REP
        return ""

    @property
    def is_rep(self) -> bool:
        """A rep sees only their own leads and what hangs off them."""
        return self.role == ROLE_REP

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN


class RepProfile(models.Model):
    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="rep_profile")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164; used to bridge calls.")
    commission_rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.1000"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
        help_text="Share of each payment, 0.10 = 10%.",
    )
    is_active = models.BooleanField(default=True, help_text="Inactive reps get no new leads.")
    is_available = models.BooleanField(default=True, help_text="Away reps get no leads from round-robin.")
    assignment_weight = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Round-robin share: a rep with weight 2 gets twice the leads of weight 1.",
    )
    # Leads given by round-robin so far; the next lead goes to the lowest count / weight.
    assigned_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "rep profile"

    def __str__(self) -> str:
        return f"Rep profile of {self.user}"


class CompanySettings(models.Model):
    """The single row of company-wide settings (pk is always 1)."""

    name = models.CharField(max_length=200, default="Your Agency")
    sender_numbers = models.TextField(
        blank=True, help_text="E.164 numbers texts are sent from, one per line."
    )
    messaging_service_sid = models.CharField(max_length=64, blank=True)
    preview_brand_name = models.CharField(max_length=200, blank=True)
    preview_primary_color = models.CharField(max_length=7, default="#4f46e5")
    preview_logo_url = models.URLField(blank=True)
    quiet_hours_start = models.TimeField(default=time(9, 0), help_text="Earliest local send time.")
    quiet_hours_end = models.TimeField(default=time(20, 0), help_text="Latest local send time.")
    default_region = models.CharField(
        max_length=2, default="US", help_text="Region used to read phone numbers without +."
    )
    personalisation_enabled = models.BooleanField(default=True)
    personalisation_tone = models.CharField(max_length=100, default="friendly, concise")
    auto_enroll_sequence = models.ForeignKey(
        "crm.Sequence", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    hot_lead_views = models.PositiveIntegerField(default=3)
    hot_lead_window_minutes = models.PositiveIntegerField(default=10)
    hot_lead_on_cta_click = models.BooleanField(
        default=True, help_text="Any button click on the preview makes the lead hot at once."
    )
    hot_lead_cool_hours = models.PositiveIntegerField(
        default=48, help_text="A hot lead with no preview activity for this long cools to warm."
    )
    setup_fee_cents = models.PositiveIntegerField(default=49_900)
    monthly_plan_cents = models.PositiveIntegerField(default=9_900)
    currency = models.CharField(max_length=3, default=CURRENCY_DEFAULT)
    default_commission_rate = models.DecimalField(
        max_digits=5, decimal_places=4, default=Decimal("0.1000")
    )
    stripe_setup_price_id = models.CharField(
        max_length=64, blank=True, help_text="A Stripe price id for the setup fee; empty: the amount above."
    )
    stripe_monthly_price_id = models.CharField(
        max_length=64, blank=True, help_text="A Stripe price id for the monthly plan; empty: the amount above."
    )
    auto_assign_leads = models.BooleanField(
        default=True, help_text="Round-robin new imported leads and hot leads with no rep among available reps."
    )
    call_caller_id = models.CharField(
        max_length=20, blank=True, help_text="E.164 number leads see when a rep calls; empty: the first sender number."
    )
    call_recording_enabled = models.BooleanField(
        default=False, help_text="Record calls; the lead hears a notice first."
    )
    allow_promotion_codes = models.BooleanField(default=False, help_text="Checkout accepts Stripe promotion codes.")
    commission_clawback_days = models.PositiveIntegerField(
        default=60, help_text="A client who churns within this many days of paying takes back the rep's commission."
    )
    help_text_reply = models.CharField(
        max_length=320,
        default="Reply STOP to opt out. Questions? Reply here and we'll get back to you.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "company settings"
        verbose_name_plural = "company settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="company_settings_singleton"),
        ]

    def __str__(self) -> str:
        return "Company settings"

    @classmethod
    def load(cls) -> "CompanySettings":
        obj, _ = cls.objects.get_or_create(pk=1)
        return obj


class Target(models.Model):
    class Metric(models.TextChoices):
        LEADS = "leads", "New leads"
        CONTACTED = "contacted", "Leads contacted"
        REPLIES = "replies", "Replies"
        HOT_LEADS = "hot_leads", "Hot leads"
        NEW_CLIENTS = "new_clients", "New clients"
        MRR = "mrr", "MRR (cents)"
        REVENUE = "revenue", "Revenue (cents)"

    class Period(models.TextChoices):
        WEEK = "week", "Week"
        MONTH = "month", "Month"
        QUARTER = "quarter", "Quarter"

    metric = models.CharField(max_length=20, choices=Metric.choices)
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.MONTH)
    period_start = models.DateField()
    goal = models.BigIntegerField(help_text="A count, or cents for money metrics.")
    rep = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="targets",
        help_text="Empty for a company-wide target.",
    )

    class Meta:
        constraints = [
            # Two constraints, because NULL reps are distinct to a plain unique constraint.
            models.UniqueConstraint(
                fields=["metric", "period", "period_start", "rep"],
                condition=Q(rep__isnull=False),
                name="target_unique_per_rep_period",
            ),
            models.UniqueConstraint(
                fields=["metric", "period", "period_start"],
                condition=Q(rep__isnull=True),
                name="target_unique_company_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} {self.period} from {self.period_start}: {self.goal}"
