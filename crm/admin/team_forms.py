"""The forms of the team admin: company settings (every field explained, the rules in
crm.services.team.company_settings_errors) and the one form that adds a team member."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from unfold.forms import UserCreationForm

from crm.models import CompanySettings, Target, User
from crm.models.team import ROLE_ADMIN, ROLE_REP, TIME_ZONE_CHOICES
from crm.services.team import E164, company_settings_errors, sender_numbers_clean

SETTINGS_HELP = {
    "name": "Your agency's name, used in texts and on preview pages.",
    "currency": "Three-letter code (usd) every price and payment is in.",
    "sender_numbers": "E.164 numbers texts are sent from, one per line (e.g. +15551234567). Leads always "
                      "hear from the same number once one has texted them.",
    "messaging_service_sid": "Optional Twilio Messaging Service SID (MG...); when set Twilio picks the sender.",
    "default_region": "Two-letter country used to read phone numbers typed without +, e.g. US.",
    "help_text_reply": "Appended to the first text: how to opt out and how to reach you.",
    "auto_enroll_sequence": "New leads are enrolled in this sequence as soon as they are imported; empty: none.",
    "quiet_hours_start": "Earliest time, in the lead's own time zone, a text may be sent.",
    "quiet_hours_end": "Latest time, in the lead's own time zone, a text may be sent; must be after the start.",
    "preview_brand_name": "Name shown on preview pages; empty: the agency name.",
    "preview_primary_color": "Main colour of preview pages, as #rrggbb.",
    "preview_logo_url": "Address of a logo image shown on preview pages; empty: no logo.",
    "personalisation_enabled": "Write a personal first line for each lead; off: a fixed template line.",
    "personalisation_tone": "How the first lines sound, e.g. 'friendly, concise'.",
    "hot_lead_views": "A lead becomes hot after this many preview views ...",
    "hot_lead_window_minutes": "... within this many minutes.",
    "setup_fee_cents": "One-off setup fee, in cents (49900 = $499.00).",
    "monthly_plan_cents": "Monthly plan price, in cents (9900 = $99.00).",
    "default_commission_rate": "Share of each payment a new rep earns, 0 to 1 (0.10 = 10%); each rep can differ.",
}

TABS = [
    ("Company", ["name", "currency"]),
    ("Sending and numbers", ["sender_numbers", "messaging_service_sid", "default_region", "help_text_reply",
                             "auto_enroll_sequence"]),
    ("Compliance and quiet hours", [("quiet_hours_start", "quiet_hours_end")]),
    ("Personalisation", ["personalisation_enabled", "personalisation_tone", "preview_brand_name",
                         "preview_primary_color", "preview_logo_url"]),
    ("Hot-lead rule", [("hot_lead_views", "hot_lead_window_minutes"), "hot_lead_on_cta_click",
                       "hot_lead_cool_hours"]),
    ("Pricing", [("setup_fee_cents", "monthly_plan_cents"), ("stripe_setup_price_id", "stripe_monthly_price_id"),
                 "allow_promotion_codes"]),
    ("Commissions", ["default_commission_rate", "commission_clawback_days"]),
    ("Calls and assignment", ["call_caller_id", "call_recording_enabled", "auto_assign_leads"]),
]
COMPANY_SETTINGS_FIELDSETS = [(title, {"classes": ["tab"], "fields": fields}) for title, fields in TABS]


class CompanySettingsForm(forms.ModelForm):
    class Meta:
        model = CompanySettings
        fields = "__all__"
        help_texts = SETTINGS_HELP

    def clean_sender_numbers(self) -> str:
        return sender_numbers_clean(self.cleaned_data.get("sender_numbers") or "")

    def clean(self):
        cleaned = super().clean()
        errors = company_settings_errors(cleaned)
        if errors:
            raise ValidationError({field: message for field, message in errors.items()})
        return cleaned


class TeamMemberCreationForm(UserCreationForm):
    """Username, name, email, password, role, and for a rep: phone, commission, availability. Saved
    by crm.services.team.user_create (crm/admin/team.py UserAdmin.save_model)."""

    role = forms.ChoiceField(choices=[(ROLE_REP, "Rep: works their own leads"),
                                      (ROLE_ADMIN, "Admin: the whole admin panel")], initial=ROLE_REP,
                             help_text="Staff status and permissions follow from the role.")
    phone = forms.CharField(required=False, max_length=20,
                            help_text="Reps: E.164 phone the call bridge rings, e.g. +15551234567.")
    commission_rate = forms.DecimalField(required=False, min_value=Decimal("0"), max_value=Decimal("1"),
                                         decimal_places=4, help_text="Reps: 0 to 1 (0.10 = 10%); empty: the "
                                         "company default.")
    is_available = forms.BooleanField(required=False, initial=True, label="Available for new leads",
                                      help_text="Reps: untick to keep them out of round-robin for now.")
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES, initial="America/New_York",
                                  help_text="Times in the admin are shown in this zone.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "first_name", "last_name", "email")

    def clean_phone(self) -> str:
        phone = self.cleaned_data.get("phone", "").strip()
        if phone and not E164.match(phone):
            raise ValidationError(f"{phone!r} is not in E.164 form, e.g. +15551234567.")
        return phone


class TargetForm(forms.ModelForm):
    """A goal for one metric and period, for the team (no rep) or one rep; the period must start
    where periods start (the 1st for a month, a Monday for a week, Jan/Apr/Jul/Oct 1 for a quarter)."""

    class Meta:
        model = Target
        fields = ["metric", "period", "period_start", "goal", "rep"]
        help_texts = {"period_start": "The first day of the period: the 1st for a month, a Monday for a week, "
                                      "1 Jan/Apr/Jul/Oct for a quarter.",
                      "goal": "A count, or cents for MRR and revenue (500000 = $5,000.00)."}

    def clean(self):
        cleaned = super().clean()
        start, period, goal, rep = (cleaned.get(k) for k in ("period_start", "period", "goal", "rep"))
        errors = {}
        if start and period == Target.Period.MONTH and start.day != 1:
            errors["period_start"] = f"A monthly target starts on the 1st, not the {start.day}th: use {start:%Y-%m}-01."
        if start and period == Target.Period.WEEK and start.weekday() != 0:
            errors["period_start"] = "A weekly target starts on a Monday."
        if start and period == Target.Period.QUARTER and (start.day != 1 or start.month not in (1, 4, 7, 10)):
            errors["period_start"] = "A quarterly target starts on 1 January, April, July or October."
        if goal is not None and goal < 0:
            errors["goal"] = "A goal cannot be negative."
        if rep is not None and not rep.is_rep:
            errors["rep"] = f"{rep} is not a rep: leave it empty for a team target."
        if errors:
            raise ValidationError(errors)
        return cleaned
