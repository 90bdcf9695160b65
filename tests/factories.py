"""factory-boy factories for every crm model.

Users: `UserFactory` (no role), `AdminUserFactory` (superuser in the ADMIN group) and
`RepUserFactory` (staff in the REP group, with a RepProfile). The groups come from the
data migration crm/0002_roles, so their permissions are the real ones.
"""

import hashlib
from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django.utils import timezone

from crm import models as m
from crm.models.team import ROLE_ADMIN, ROLE_REP

TEST_PASSWORD = "correct-horse-battery-staple"


def _group(name: str) -> Group:
    # The migration creates both groups; get_or_create keeps factories usable after a flush.
    return Group.objects.get_or_create(name=name)[0]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password(TEST_PASSWORD)
    time_zone = "America/New_York"


class AdminUserFactory(UserFactory):
    """An admin: superuser, staff, in the ADMIN group."""

    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True

    @factory.post_generation
    def role_group(obj, create, extracted, **kwargs):
        if create:
            obj.groups.add(_group(ROLE_ADMIN))


class RepProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.RepProfile
        django_get_or_create = ("user",)

    user = factory.SubFactory(UserFactory)
    phone = factory.Sequence(lambda n: f"+1555800{n:04d}")
    commission_rate = Decimal("0.1000")
    is_active = True


class RepUserFactory(UserFactory):
    """A rep: staff (so they can log into the admin), in the REP group, with a profile."""

    username = factory.Sequence(lambda n: f"rep{n}")
    is_staff = True
    is_superuser = False
    rep_profile = factory.RelatedFactory(RepProfileFactory, factory_related_name="user")

    @factory.post_generation
    def role_group(obj, create, extracted, **kwargs):
        if create:
            obj.groups.add(_group(ROLE_REP))


def make_admin(**kwargs) -> m.User:
    return AdminUserFactory(**kwargs)


def make_rep(**kwargs) -> m.User:
    return RepUserFactory(**kwargs)


class CompanySettingsFactory(factory.django.DjangoModelFactory):
    """The singleton row (pk 1); building it twice returns the same row."""

    class Meta:
        model = m.CompanySettings
        django_get_or_create = ("id",)

    id = 1
    name = "Test Agency"
    sender_numbers = "+15550000001"


class TargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Target

    metric = m.Target.Metric.LEADS
    period = m.Target.Period.MONTH
    period_start = factory.Sequence(lambda n: date(2025, 1, 1) + timedelta(days=n))
    goal = 100
    rep = None


class ImportBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.ImportBatch

    original_name = factory.Sequence(lambda n: f"leads-{n}.csv")
    uploaded_by = None
    status = m.ImportBatch.Status.DONE
    total_rows = 10
    processed_rows = 10
    created_count = 10


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Lead

    business_name = factory.Sequence(lambda n: f"Business {n:05d}")
    contact_first_name = factory.Faker("first_name")
    contact_last_name = factory.Faker("last_name")
    # Unique E.164 numbers in the 555 range (the DB requires the leading "+").
    phone = factory.Sequence(lambda n: f"+1555{n:07d}")
    email = factory.LazyAttribute(lambda o: f"owner{o.phone[-7:]}@example.com")
    city = "Springfield"
    state = "IL"
    country = "US"
    category = "Plumber"
    status = m.Lead.Status.NEW
    priority = m.Lead.Priority.NORMAL
    assigned_rep = None


class TimelineEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.TimelineEvent

    lead = factory.SubFactory(LeadFactory)
    kind = m.TimelineEvent.Kind.NOTE
    actor = None
    data = factory.LazyFunction(lambda: {"text": "note"})


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.MessageTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    body = "Hi {contact_first_name}, {first_line} {preview_url}"
    is_active = True


class SequenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Sequence

    name = factory.Sequence(lambda n: f"Sequence {n}")
    description = "Day 0, Day 2, Day 5"
    is_active = True


class SequenceStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.SequenceStep

    sequence = factory.SubFactory(SequenceFactory)
    order = factory.Sequence(lambda n: n + 1)
    delay_days = 0
    template = factory.SubFactory(MessageTemplateFactory)


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Enrollment

    lead = factory.SubFactory(LeadFactory)
    sequence = factory.SubFactory(SequenceFactory)
    next_step = None
    next_run_at = factory.LazyFunction(timezone.now)
    status = m.Enrollment.Status.ACTIVE


class BulkSendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.BulkSend

    body = factory.Sequence(lambda n: f"Bulk text {n}")
    dedupe_key = factory.Sequence(lambda n: f"{n:064d}")
    selected = 1
    queued = 1


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Message

    lead = factory.SubFactory(LeadFactory)
    direction = m.Message.Direction.OUTBOUND
    body = factory.Sequence(lambda n: f"Hello there, message {n}")
    from_number = "+15550000001"
    to_number = factory.SelfAttribute("lead.phone")
    provider_sid = factory.Sequence(lambda n: f"SM{n:032d}")
    status = m.Message.Status.SENT


class PreviewEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.PreviewEvent

    lead = factory.SubFactory(LeadFactory)
    session_id = factory.Sequence(lambda n: f"session-{n}")
    kind = m.PreviewEvent.Kind.VIEW
    seconds = 0


class NotificationFactory(factory.django.DjangoModelFactory):
    """A notification to `recipient` about a lead assigned to them."""

    class Meta:
        model = m.Notification

    recipient = factory.SubFactory(RepUserFactory)
    lead = factory.SubFactory(LeadFactory, assigned_rep=factory.SelfAttribute("..recipient"))
    kind = m.Notification.Kind.HOT_LEAD
    text = factory.LazyAttribute(lambda o: f"{o.lead} is hot" if o.lead else "Heads up")


class CallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Call

    lead = factory.SubFactory(LeadFactory)
    rep = factory.SelfAttribute("lead.assigned_rep")
    provider_sid = factory.Sequence(lambda n: f"CA{n:032d}")
    status = m.Call.Status.COMPLETED
    duration_seconds = 42
    outcome = m.Call.Outcome.INTERESTED
    notes = "Wants a quote"


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Client

    lead = None
    name = factory.Sequence(lambda n: f"Client {n}")
    email = factory.LazyAttribute(lambda o: f"client{o.name.split()[-1]}@example.com")
    rep = None
    stripe_customer_id = factory.Sequence(lambda n: f"cus_{n:08d}")


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Subscription

    client = factory.SubFactory(ClientFactory)
    amount_cents = 9_900
    stripe_subscription_id = factory.Sequence(lambda n: f"sub_{n:08d}")
    started_at = factory.LazyFunction(timezone.now)


class TransactionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Transaction

    client = factory.SubFactory(ClientFactory)
    subscription = None
    kind = m.Transaction.Kind.SETUP
    amount_cents = 49_900
    provider_id = factory.Sequence(lambda n: f"pi_{n:08d}")
    occurred_at = factory.LazyFunction(timezone.now)


class CommissionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Commission

    rep = factory.SubFactory(RepUserFactory)
    transaction = factory.SubFactory(TransactionFactory, client__rep=factory.SelfAttribute("...rep"))
    rate = Decimal("0.1000")
    amount_cents = factory.LazyAttribute(lambda o: int(o.transaction.amount_cents * o.rate))


class UpsellFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Upsell

    client = factory.SubFactory(ClientFactory)
    product = "SEO care plan"
    amount_cents = 19_900
    recurring = True
    rep = None


class WebhookEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.WebhookEvent

    source = m.WebhookEvent.Source.STRIPE
    event_id = factory.Sequence(lambda n: f"evt_{n:08d}")
    event_type = "checkout.session.completed"
    payload = factory.LazyAttribute(lambda o: {"id": o.event_id, "type": o.event_type})


class SavedReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.SavedReply

    title = factory.Sequence(lambda n: f"Reply {n}")
    body = "Hi {contact_first_name}, your new site is at {preview_url}"
    owner = None  # shared


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A token row; its secret is unknown (tests that call the API make theirs with api_token_create)."""

    class Meta:
        model = m.ApiToken

    user = factory.SubFactory(RepUserFactory)
    name = factory.Sequence(lambda n: f"Token {n}")
    prefix = factory.Sequence(lambda n: f"crm_{n:06d}")
    secret_hash = factory.Sequence(lambda n: hashlib.sha256(f"crm_factory_{n}".encode()).hexdigest())
