"""Team services: staff users get exactly one role group, reps get a profile."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from crm.models import CompanySettings, RepProfile, User
from crm.services.team import company_settings_errors, user_create, user_deactivate, user_set_role

PASSWORD = "a-long-enough-passphrase"


def group_names(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@pytest.mark.django_db
def test_rep_is_staff_in_rep_group_with_profile_at_default_rate():
    settings = CompanySettings.load()
    settings.default_commission_rate = Decimal("0.1500")
    settings.save()

    rep = user_create(username="jo", password=PASSWORD, role="REP", phone="+16175550142",
                      first_name="Jo", time_zone="America/Chicago")

    rep = User.objects.get(pk=rep.pk)
    assert rep.is_staff and not rep.is_superuser
    assert group_names(rep) == {"REP"}
    assert rep.is_rep and not rep.is_admin
    assert rep.rep_profile.commission_rate == Decimal("0.1500")
    assert rep.rep_profile.phone == "+16175550142"
    assert rep.rep_profile.is_active
    assert rep.time_zone == "America/Chicago"
    assert rep.check_password(PASSWORD)


@pytest.mark.django_db
def test_rep_keeps_an_explicit_commission_rate():
    rep = user_create(username="kim", password=PASSWORD, role="REP", commission_rate="0.125")
    assert RepProfile.objects.get(user=rep).commission_rate == Decimal("0.1250")


@pytest.mark.django_db
def test_admin_superuser_only_when_asked():
    boss = user_create(username="boss", password=PASSWORD, role="ADMIN", superuser=True)
    office = user_create(username="office", password=PASSWORD, role="ADMIN")

    assert boss.is_superuser and boss.is_staff and boss.is_admin
    assert not office.is_superuser and office.is_staff
    assert group_names(office) == {"ADMIN"}
    assert office.is_admin and not office.is_rep
    assert not RepProfile.objects.filter(user__in=[boss, office]).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "rep", "MANAGER", ""])
def test_unknown_role_is_refused_with_a_clear_message(role):
    with pytest.raises(ValueError, match="must be one of ADMIN, REP"):
        user_create(username="x", password=PASSWORD, role=role)
    assert not User.objects.filter(username="x").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"role": "REP", "superuser": True}, "Only an ADMIN can be a superuser"),
        ({"role": "REP", "commission_rate": "1.5"}, "out of range"),
        ({"role": "REP", "time_zone": "Mars/Olympus"}, "Unknown time zone"),
        ({"role": "REP", "username": "  "}, "username is required"),
        ({"role": "REP", "phone": "555-1234"}, "E.164"),
    ],
)
def test_bad_input_writes_nothing(kwargs, message):
    users_before = User.objects.count()
    with pytest.raises(ValueError, match=message):
        user_create(**{"username": "newbie", "password": PASSWORD, **kwargs})
    assert User.objects.count() == users_before
    assert not RepProfile.objects.exists()


@pytest.mark.django_db
def test_username_taken_in_any_case():
    user_create(username="Sam", password=PASSWORD, role="REP")
    with pytest.raises(ValueError, match="already exists"):
        user_create(username="sam", password=PASSWORD, role="REP")


@pytest.mark.django_db
def test_weak_password_is_refused():
    with pytest.raises(ValidationError):
        user_create(username="weak", password="123", role="REP")
    assert not User.objects.filter(username="weak").exists()


@pytest.mark.django_db
def test_set_role_rep_to_admin_and_back():
    user = user_create(username="dana", password=PASSWORD, role="REP")

    user_set_role(user=user, role="ADMIN")
    user = User.objects.get(pk=user.pk)
    assert group_names(user) == {"ADMIN"}
    assert user.is_admin and not user.is_rep
    assert not user.rep_profile.is_active  # kept for history, gets no new leads

    user_set_role(user=user, role="REP")
    user = User.objects.get(pk=user.pk)
    assert group_names(user) == {"REP"}
    assert user.is_rep
    assert user.rep_profile.is_active


@pytest.mark.django_db
def test_set_role_rep_drops_superuser_and_creates_profile():
    boss = user_create(username="boss", password=PASSWORD, role="ADMIN", superuser=True)

    user_set_role(user=boss, role="REP")

    assert boss.is_rep  # the cached role is refreshed on the same instance
    boss = User.objects.get(pk=boss.pk)
    assert not boss.is_superuser and boss.is_staff
    assert group_names(boss) == {"REP"}
    assert RepProfile.objects.get(user=boss).commission_rate == (
        CompanySettings.load().default_commission_rate
    )


@pytest.mark.django_db
def test_set_role_refuses_unknown_role():
    user = user_create(username="lee", password=PASSWORD, role="REP")
    with pytest.raises(ValueError, match="Unknown role"):
        user_set_role(user=user, role="OWNER")
    assert group_names(User.objects.get(pk=user.pk)) == {"REP"}


@pytest.mark.django_db
def test_groups_come_from_the_migration():
    assert set(Group.objects.values_list("name", flat=True)) >= {"ADMIN", "REP"}


@pytest.mark.django_db
def test_a_rep_created_away_gets_no_round_robin_leads():
    rep = user_create(username="away", password=PASSWORD, role="REP", phone="+15550001111", is_available=False)
    assert (rep.rep_profile.phone, rep.rep_profile.is_available) == ("+15550001111", False)


@pytest.mark.django_db
def test_deactivating_keeps_history_and_passes_open_leads_on():
    from crm.models import Lead, Message, TimelineEvent
    from tests.factories import AdminUserFactory, LeadFactory, MessageFactory

    boss = AdminUserFactory()
    leaving = user_create(username="leaving", password=PASSWORD, role="REP")
    staying = user_create(username="staying", password=PASSWORD, role="REP")
    away = user_create(username="away", password=PASSWORD, role="REP", is_available=False)
    open_leads = [LeadFactory(assigned_rep=leaving, status=s) for s in ("NEW", "CONTACTED", "REPLIED")]
    won = LeadFactory(assigned_rep=leaving, status="PAID")
    MessageFactory(lead=won, sent_by=leaving)

    assert user_deactivate(user=leaving, actor=boss) == 3
    leaving.refresh_from_db()
    assert not leaving.is_active and not leaving.rep_profile.is_active
    assert set(Lead.objects.filter(pk__in=[lead.pk for lead in open_leads])
               .values_list("assigned_rep", flat=True)) == {staying.pk}  # the away rep gets none
    assert Lead.objects.get(pk=won.pk).assigned_rep == leaving  # history stays theirs
    assert Message.objects.filter(sent_by=leaving).count() == 1
    assert TimelineEvent.objects.filter(lead=open_leads[0], kind="assigned").count() == 2  # unassigned, given
    assert away.rep_profile.is_available is False


@pytest.mark.django_db
def test_deactivating_with_nobody_to_take_the_leads_leaves_them_unassigned():
    from crm.models import Lead
    from tests.factories import LeadFactory

    leaving = user_create(username="leaving", password=PASSWORD, role="REP")
    lead = LeadFactory(assigned_rep=leaving)
    assert user_deactivate(user=leaving, actor=None) == 0
    assert Lead.objects.get(pk=lead.pk).assigned_rep is None


def test_company_settings_rules_say_what_is_wrong():
    from datetime import time

    errors = company_settings_errors({
        "quiet_hours_start": time(20), "quiet_hours_end": time(9), "sender_numbers": "+15550001111\n555 1234\n",
        "call_caller_id": "12345", "default_commission_rate": Decimal("1.5"), "preview_primary_color": "blue",
        "hot_lead_views": 0, "default_region": "us", "currency": "dollars",
    })
    assert errors["quiet_hours_end"] == "The sending window must end after it starts (20:00)."
    assert "555 1234" in errors["sender_numbers"] and "+15550001111" not in errors["sender_numbers"]
    assert set(errors) == {"quiet_hours_end", "sender_numbers", "call_caller_id", "default_commission_rate",
                           "preview_primary_color", "hot_lead_views", "default_region", "currency"}
    assert company_settings_errors({"quiet_hours_start": time(9), "quiet_hours_end": time(20),
                                    "sender_numbers": "+15550001111\n\n+442071234567",
                                    "preview_primary_color": "#4F46e5", "default_commission_rate": 0}) == {}
