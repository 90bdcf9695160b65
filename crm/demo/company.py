"""The demo agency: its staff, settings, message templates, outreach sequence, targets."""

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

from django.utils import timezone

from crm.models import (
    CompanySettings,
    ApiToken,
    MessageTemplate,
    SavedReply,
    RepProfile,
    Sequence,
    SequenceStep,
    Target,
    User,
)
from crm.services.api_tokens import api_token_create
from crm.services.team import user_create

COMPANY_NAME = "Brightside Web Studio"
# 555-0100..0199 numbers are reserved for fiction; 0100 itself is kept out of the lead pool.
SENDER_NUMBERS = ("+12125550100", "+13125550100", "+12135550100")


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    first_name: str
    last_name: str
    phone: str = ""
    commission_rate: str | None = None
    time_zone: str = "America/New_York"


DEMO_ADMIN = DemoLogin("admin", "demo-admin-123", "ADMIN", "Alex", "Morgan")
DEMO_REPS = (
    DemoLogin("rep1", "demo-rep-123", "REP", "Jordan", "Lee", "+16175550100", "0.1000",
              "America/New_York"),
    DemoLogin("rep2", "demo-rep-123", "REP", "Sam", "Rivera", "+13035550100", "0.1200",
              "America/Denver"),
)
DEMO_LOGINS = (DEMO_ADMIN, *DEMO_REPS)

TEMPLATES = {
    "Intro (Day 0)": (
        "Hi {contact_first_name}, {first_line} Have a look: {preview_url} "
        "- {rep_name}, {company_name}. Reply STOP to opt out."
    ),
    "Follow-up (Day 2)": (
        "Hi {contact_first_name}, did you get a chance to see the site we made for "
        "{business_name}? {preview_url}"
    ),
    "Last note (Day 5)": (
        "Last note from {company_name}: the preview for {business_name} stays up a few more "
        "days. {preview_url} Reply STOP to opt out."
    ),
    "Checkout link": (
        "Great talking with you, {contact_first_name}! Here is the secure checkout to get "
        "{business_name} live: {checkout_url}"
    ),
}
SEQUENCE_NAME = "New lead outreach"
# (template, delay_days after the previous step): texts go out on Day 0, Day 2 and Day 5.
SEQUENCE_STEPS = (("Intro (Day 0)", 0), ("Follow-up (Day 2)", 2), ("Last note (Day 5)", 3))


@dataclass
class DemoCompany:
    admin: User
    reps: list[User]
    settings: CompanySettings
    sequence: Sequence
    steps: list[SequenceStep]
    checkout_template: MessageTemplate

    def rep_rate(self, rep: User) -> Decimal:
        return rep.rep_profile.commission_rate


def company_users_create(*, joined_at: datetime) -> tuple[User, list[User]]:
    """The demo admin (superuser) and two reps, back-dated to `joined_at`."""
    users = [
        user_create(
            username=login.username,
            password=login.password,
            role=login.role,
            email=f"{login.first_name.lower()}@brightside.example",
            first_name=login.first_name,
            last_name=login.last_name,
            phone=login.phone,
            commission_rate=login.commission_rate,
            time_zone=login.time_zone,
            superuser=login.role == "ADMIN",
        )
        for login in DEMO_LOGINS
    ]
    ids = [user.pk for user in users]
    User.objects.filter(pk__in=ids).update(date_joined=joined_at)
    RepProfile.objects.filter(user_id__in=ids).update(created_at=joined_at)
    admin, *reps = User.objects.filter(pk__in=ids).select_related("rep_profile").order_by("pk")
    return admin, reps


def company_settings_fill() -> CompanySettings:
    """Fill the single settings row with the demo agency's numbers, hours and prices."""
    settings = CompanySettings.load()
    settings.name = COMPANY_NAME
    settings.sender_numbers = "\n".join(SENDER_NUMBERS)
    settings.preview_brand_name = COMPANY_NAME
    settings.preview_primary_color = "#f97316"
    settings.quiet_hours_start = time(9, 0)
    settings.quiet_hours_end = time(20, 0)
    settings.default_region = "US"
    settings.personalisation_enabled = True
    settings.personalisation_tone = "friendly, concise, local"
    settings.hot_lead_views = 3
    settings.hot_lead_window_minutes = 10
    settings.setup_fee_cents = 49_900
    settings.monthly_plan_cents = 9_900
    settings.currency = "usd"
    settings.default_commission_rate = Decimal("0.1000")
    settings.save()
    return settings


def company_outreach_create(*, settings: CompanySettings) -> tuple[Sequence, list[SequenceStep], MessageTemplate]:
    """Templates and the Day 0 / Day 2 / Day 5 sequence; new leads are auto-enrolled in it."""
    templates = {
        name: MessageTemplate.objects.get_or_create(name=name, defaults={"body": body})[0]
        for name, body in TEMPLATES.items()
    }
    sequence, created = Sequence.objects.get_or_create(
        name=SEQUENCE_NAME,
        defaults={"description": "Three texts with the preview link: Day 0, Day 2, Day 5."},
    )
    if created:
        SequenceStep.objects.bulk_create(
            SequenceStep(sequence=sequence, order=order, delay_days=delay, template=templates[name])
            for order, (name, delay) in enumerate(SEQUENCE_STEPS, start=1)
        )
    steps = list(sequence.steps.select_related("template").order_by("order"))
    settings.auto_enroll_sequence = sequence
    settings.save(update_fields=["auto_enroll_sequence", "updated_at"])
    return sequence, steps, templates["Checkout link"]


SAVED_REPLIES = {
    "Price": "Hi {contact_first_name}, it's a one-time setup plus a small monthly fee for hosting and care. "
             "Want the details for {business_name}?",
    "Call me": "Happy to talk it through. When suits you for a 5-minute call?",
    "Claim link": "Here's the link to make it yours: {checkout_url}",
}


def company_saved_replies_create(*, reps: list[User]) -> None:
    """Shared saved replies, and one of the first rep's own."""
    for title, body in SAVED_REPLIES.items():
        SavedReply.objects.get_or_create(title=title, owner=None, defaults={"body": body})
    if reps:
        SavedReply.objects.get_or_create(title="Thanks", owner=reps[0],
                                         defaults={"body": "Thanks {contact_first_name}, speak soon!"})


def company_api_token_create(*, admin: User) -> None:
    """One API token of the admin's, as an integration would hold (its secret is not kept)."""
    if not ApiToken.objects.filter(user=admin).exists():
        api_token_create(user=admin, name="Website form (demo)", actor=admin)


def company_targets_create(*, reps: list[User]) -> list[Target]:
    """Company-wide goals for this month, plus a new-clients and revenue goal per rep."""
    month_start = timezone.localdate().replace(day=1)
    goals = {
        Target.Metric.LEADS: 400,
        Target.Metric.CONTACTED: 300,
        Target.Metric.REPLIES: 45,
        Target.Metric.HOT_LEADS: 30,
        Target.Metric.NEW_CLIENTS: 10,
        Target.Metric.MRR: 300_000,
        Target.Metric.REVENUE: 800_000,
    }
    targets = [
        Target(metric=metric, period=Target.Period.MONTH, period_start=month_start, goal=goal)
        for metric, goal in goals.items()
    ]
    for rep in reps:
        targets.append(Target(metric=Target.Metric.NEW_CLIENTS, period_start=month_start,
                              goal=5, rep=rep))
        targets.append(Target(metric=Target.Metric.REVENUE, period_start=month_start,
                              goal=350_000, rep=rep))
    return Target.objects.bulk_create(targets)
