"""Settings and team in one place: company settings in tabs with every field explained and
checked, targets for the team or a rep, one form that adds a team member with a role, deactivation
from the user list, password reset by email."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from crm.admin.team_forms import TABS
from crm.models import CompanySettings, Lead, RepProfile, Target, User
from tests.factories import LeadFactory, RepUserFactory

pytestmark = pytest.mark.django_db
HOT_LEAD_KNOBS = {"hot_lead_views", "hot_lead_window_minutes", "hot_lead_on_cta_click", "hot_lead_cool_hours"}


def _tab_fields() -> set[str]:
    names = set()
    for _, fields in TABS:
        for item in fields:
            names.update(item if isinstance(item, tuple) else (item,))
    return names


def _settings_url() -> str:
    return reverse("admin:crm_companysettings_change", args=[CompanySettings.load().pk])


def _post_data(response, **changes) -> dict:
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = "" if value is None else (value.strftime("%H:%M") if hasattr(value, "strftime") else value)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not False}


def test_every_editable_setting_is_on_a_tab_with_an_explanation(admin_client):
    editable = {f.name for f in CompanySettings._meta.concrete_fields if f.editable and f.name != "id"}
    assert _tab_fields() == editable
    assert HOT_LEAD_KNOBS <= _tab_fields()
    response = admin_client.get(_settings_url())
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert [name for name, field in form.fields.items() if not field.help_text] == []
    page = response.content.decode()
    for title, _ in TABS:
        assert title in page


def test_bad_settings_are_refused_with_clear_messages_and_nothing_changes(admin_client):
    page = admin_client.get(_settings_url())
    response = admin_client.post(_settings_url(), _post_data(
        page, quiet_hours_start="21:00", quiet_hours_end="08:00", sender_numbers="+15550001111\n555-1234",
        default_commission_rate="1.5", preview_primary_color="purple", call_caller_id="123"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "must end after it starts" in errors["quiet_hours_end"][0]
    assert "555-1234" in errors["sender_numbers"][0]
    assert "#rrggbb" in errors["preview_primary_color"][0]
    assert "default_commission_rate" in errors and "call_caller_id" in errors
    assert CompanySettings.load().quiet_hours_start.hour == 9


def test_good_settings_are_saved_and_numbers_tidied(admin_client):
    page = admin_client.get(_settings_url())
    response = admin_client.post(_settings_url(), _post_data(
        page, sender_numbers=" +15550001111 \n\n+15550002222", hot_lead_views="5", hot_lead_cool_hours="12"))
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    company = CompanySettings.load()
    assert (company.sender_numbers, company.hot_lead_views, company.hot_lead_cool_hours) == (
        "+15550001111\n+15550002222", 5, 12)


def test_targets_for_the_team_or_a_rep_with_period_checks(admin_client):
    rep = RepUserFactory()
    url = reverse("admin:crm_target_add")
    bad = admin_client.post(url, {"metric": "leads", "period": "month", "period_start": "2026-11-15", "goal": "10"})
    assert "starts on the 1st" in bad.context["adminform"].form.errors["period_start"][0]
    for who in ("", rep.pk):
        ok = admin_client.post(url, {"metric": "leads", "period": "month", "period_start": "2026-11-01",
                                     "goal": "10", "rep": who})
        assert ok.status_code == 302
    assert set(Target.objects.values_list("rep", flat=True)) == {None, rep.pk}


def test_one_form_adds_a_rep_with_role_phone_rate_and_availability(admin_client):
    response = admin_client.post(reverse("admin:crm_user_add"), {
        "username": "newrep", "first_name": "New", "last_name": "Rep", "email": "new@example.com",
        "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase", "role": "REP",
        "time_zone": "America/Chicago", "phone": "+15550003333", "commission_rate": "0.15",
    })
    assert response.status_code == 302
    user = User.objects.get(username="newrep")
    assert user.is_staff and not user.is_superuser and user.is_rep and user.time_zone == "America/Chicago"
    profile = RepProfile.objects.get(user=user)
    assert (profile.phone, str(profile.commission_rate), profile.is_available) == ("+15550003333", "0.1500", False)


def test_the_add_form_adds_an_admin_and_refuses_a_bad_phone(admin_client):
    data = {"username": "boss2", "password1": "a-long-enough-passphrase", "password2": "a-long-enough-passphrase",
            "role": "ADMIN", "time_zone": "America/New_York", "is_available": "on"}
    assert admin_client.post(reverse("admin:crm_user_add"), data).status_code == 302
    boss = User.objects.get(username="boss2")
    assert boss.is_staff and boss.is_admin and not RepProfile.objects.filter(user=boss).exists()
    bad = admin_client.post(reverse("admin:crm_user_add"), {**data, "username": "x", "role": "REP", "phone": "12"})
    assert "E.164" in bad.context["adminform"].form.errors["phone"][0]
    assert not User.objects.filter(username="x").exists()


def test_deactivate_action_keeps_the_user_and_reassigns_open_leads(admin_client):
    leaving, staying = RepUserFactory(), RepUserFactory()
    lead = LeadFactory(assigned_rep=leaving)
    response = admin_client.post(reverse("admin:crm_user_changelist"),
                                 {"action": "deactivate_and_reassign", "_selected_action": [leaving.pk]})
    assert response.status_code == 302
    assert User.objects.filter(pk=leaving.pk, is_active=False).exists()
    assert Lead.objects.get(pk=lead.pk).assigned_rep_id == staying.pk


def test_password_reset_by_email_from_the_login_page(client, admin_user):
    login = client.get(reverse("admin:login"))
    assert reverse("admin_password_reset") in login.content.decode()
    admin_user.email = "boss@example.com"
    admin_user.save()
    response = client.post(reverse("admin_password_reset"), {"email": "boss@example.com"})
    assert response.status_code == 302 and len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200
    done = client.post(form.redirect_chain[-1][0], {"new_password1": "another-long-passphrase",
                                                    "new_password2": "another-long-passphrase"})
    assert done.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.check_password("another-long-passphrase")
