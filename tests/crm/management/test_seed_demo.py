"""manage.py seed_demo: a full, believable demo agency, loaded once, never in production."""

from datetime import datetime
from io import StringIO
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
import time_machine
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db.models import Min
from django.test import override_settings
from django.utils import timezone

from crm.models import (
    Client,
    ImportBatch,
    Lead,
    Message,
    Subscription,
    Transaction,
    User,
)
from crm.demo import DEMO_LOGINS

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        model.__name__: model._default_manager.count()
        for model in apps.get_app_config("crm").get_models()
    }


NEW_YORK = ZoneInfo("America/New_York")
# The demo is built backwards from "now": afternoon, late evening and the small hours in the
# east (the west is still in its evening), across a DST change.
CLOCKS = {
    "afternoon": datetime(2026, 7, 15, 14, 0, tzinfo=NEW_YORK),
    "late_evening": datetime(2026, 12, 2, 23, 30, tzinfo=NEW_YORK),
    "small_hours": datetime(2026, 12, 2, 3, 0, tzinfo=NEW_YORK),
    "dst_morning": datetime(2026, 11, 1, 7, 45, tzinfo=NEW_YORK),
}


@pytest.fixture
def seeded() -> str:
    with time_machine.travel(CLOCKS["afternoon"], tick=True):
        yield seed()


@pytest.fixture(params=list(CLOCKS))
def seeded_at_any_hour(request) -> str:
    with time_machine.travel(CLOCKS[request.param], tick=True):
        yield seed()


def test_admin_and_reps_can_log_in_with_their_roles(seeded):
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.is_admin
    assert set(admin.groups.values_list("name", flat=True)) == {"ADMIN"}
    assert admin.check_password("demo-admin-123")

    for username in ("rep1", "rep2"):
        rep = User.objects.get(username=username)
        assert rep.is_rep and rep.is_staff and not rep.is_superuser
        assert set(rep.groups.values_list("name", flat=True)) == {"REP"}
        assert rep.check_password("demo-rep-123")
        assert rep.rep_profile.commission_rate > 0
        assert phonenumbers.is_valid_number(phonenumbers.parse(rep.rep_profile.phone))
        assert rep.get_full_name()

    for login in DEMO_LOGINS:  # the summary tells the operator how to get in
        assert f"{login.username} / {login.password}" in seeded


def test_leads_are_many_valid_and_spread_over_time_zones(seeded):
    leads = Lead.objects.all()
    assert leads.count() >= 250
    assert leads.values("time_zone").distinct().count() >= 4
    phones = list(leads.values_list("phone", flat=True))
    assert len(set(phones)) == len(phones)
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
    assert set(leads.values_list("status", flat=True)) == set(Lead.Status.values)
    assert leads.filter(priority=Lead.Priority.HOT).exists()
    assert leads.filter(assigned_rep__username="rep1").exists()
    assert leads.filter(assigned_rep__username="rep2").exists()
    assert leads.filter(assigned_rep__isnull=True).exists()
    assert not leads.filter(source_batch__isnull=True).exists()
    assert set(ImportBatch.objects.values_list("status", flat=True)) == {ImportBatch.Status.DONE}
    assert leads.filter(enrichment_status=Lead.PipelineStatus.DONE).count() > leads.count() // 2

    now = timezone.now()
    oldest = leads.aggregate(Min("created_at"))["created_at__min"]
    assert 60 <= (now - oldest).days <= 100
    assert not leads.filter(created_at__gt=now).exists()


def test_every_crm_model_has_rows(seeded):
    from django.contrib import admin

    # Every model an admin page shows; ProviderThrottle is bookkeeping with no page.
    shown = {model.__name__ for model in admin.site._registry if model._meta.app_label == "crm"}
    empty = [name for name, count in counts().items() if count == 0 and name in shown]
    assert empty == []


def test_texts_respect_quiet_hours_and_money_is_cents(seeded_at_any_hour):
    for message in Message.objects.filter(direction=Message.Direction.OUTBOUND).select_related("lead"):
        local = message.sent_at.astimezone(ZoneInfo(message.lead.time_zone))
        assert 9 <= local.hour < 20, (message.pk, local)
    assert not Message.objects.filter(provider_sid__isnull=True).exists()

    assert Client.objects.count() == Lead.objects.filter(status=Lead.Status.PAID).count()
    assert Subscription.objects.filter(status=Subscription.Status.PAST_DUE).count() == 1
    assert Client.objects.filter(churn_risk=True).exists()
    assert set(Transaction.objects.values_list("kind", flat=True)) == set(Transaction.Kind.values)
    assert set(Transaction.objects.values_list("currency", flat=True)) == {"usd"}
    assert all(isinstance(a, int) for a in Transaction.objects.values_list("amount_cents", flat=True))


def test_second_run_changes_nothing(seeded):
    before = counts()
    users_before = User.objects.count()

    output = seed()

    assert "Demo data already present" in output
    assert counts() == before
    assert User.objects.count() == users_before


@pytest.mark.parametrize(
    "overrides",
    [
        {"DEMO_DATA_ALLOWED": False},  # what settings.production (and base) say
        {"DEMO_DATA_ALLOWED": False, "DEBUG": True},
        {"DEMO_DATA_REQUIRES_DEBUG": True, "DEBUG": False},  # settings.local with DJANGO_DEBUG=false
    ],
)
def test_refuses_production_like_settings(overrides):
    with override_settings(**overrides), pytest.raises(CommandError, match="Refusing"):
        seed()
    assert not Lead.objects.exists()
    assert not User.objects.exists()


def test_refuses_when_a_demo_username_belongs_to_someone_else(django_user_model):
    django_user_model.objects.create_user(username="admin", password="someone-elses-secret")
    with pytest.raises(CommandError, match="already exist"):
        seed()
    assert not Lead.objects.exists()
    assert django_user_model.objects.count() == 1


def test_replies_nobody_answered_wait_in_the_reps_queues(seeded):
    from crm.selectors.queue import rep_queue
    from crm.services.reply_waiting import reply_waiting_backfill

    waiting = dict(Lead.objects.filter(awaiting_reply_since__isnull=False).values_list("pk", "awaiting_reply_since"))
    assert waiting  # the demo has replies nobody answered yet
    assert reply_waiting_backfill() == len(waiting)  # as the rule reads the stored texts and calls
    reps = {lead.assigned_rep_id for lead in Lead.objects.filter(pk__in=waiting, status=Lead.Status.REPLIED,
                                                                  assigned_rep__isnull=False, opted_out_at=None)}
    assert any(rep_queue(rep_id=rep, now=timezone.now(), limit=0).counts["reply"] for rep in reps)
