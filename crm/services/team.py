"""Team writes: staff users, their role (the ADMIN or REP group) and the rep profile; leaving the
team (deactivation) with the open leads passed on; and the rules company settings must meet."""

import re
from decimal import Decimal
from zoneinfo import available_timezones

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from crm.models import CompanySettings, Lead, RepProfile, User
from crm.models.team import ROLE_ADMIN, ROLE_REP
from crm.services.assignment import leads_round_robin
from crm.services.leads import lead_bulk_assign

ROLES = (ROLE_ADMIN, ROLE_REP)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}: a user's role must be one of {', '.join(ROLES)}.")


def _check_commission_rate(rate: Decimal) -> Decimal:
    rate = Decimal(str(rate))
    if not Decimal("0") <= rate <= Decimal("1"):
        raise ValueError(f"Commission rate {rate} is out of range: use 0 to 1 (0.10 = 10%).")
    return rate


def _role_group(role: str) -> Group:
    # The groups come from migration 0002_roles; get_or_create keeps a fresh test DB working.
    group, _ = Group.objects.get_or_create(name=role)
    return group


def _forget_cached_role(user: User) -> None:
    user.__dict__.pop("role", None)


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    role: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    commission_rate: Decimal | str | None = None,
    time_zone: str | None = None,
    superuser: bool = False,
    is_available: bool = True,
) -> User:
    """Create a staff user with exactly one role group.

    Guarantees: the user is staff; is a superuser only when role is ADMIN and
    `superuser=True`; belongs to the ADMIN or REP group; a REP has an active
    RepProfile whose commission rate defaults to CompanySettings.default_commission_rate.
    Bad input (unknown role or time zone, taken username, weak password, rate outside
    0..1) raises ValueError or ValidationError and writes nothing.
    """
    _check_role(role)
    if superuser and role != ROLE_ADMIN:
        raise ValueError("Only an ADMIN can be a superuser.")
    username = username.strip()
    if not username:
        raise ValueError("A username is required.")
    if User.objects.filter(username__iexact=username).exists():
        raise ValueError(f"A user named {username!r} already exists.")
    if time_zone is not None and time_zone not in available_timezones():
        raise ValueError(f"Unknown time zone {time_zone!r}, e.g. use 'America/Chicago'.")
    if commission_rate is not None:
        commission_rate = _check_commission_rate(commission_rate)
    if phone and not E164.match(phone):
        raise ValueError(f"Phone {phone!r} is not in E.164 form, e.g. +15551234567.")

    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_staff=True,
        is_superuser=superuser,
    )
    if time_zone is not None:
        user.time_zone = time_zone
    validate_password(password, user)
    user.set_password(password)
    user.save()
    user.groups.add(_role_group(role))

    if role == ROLE_REP:
        if commission_rate is None:
            commission_rate = CompanySettings.load().default_commission_rate
        RepProfile.objects.create(user=user, phone=phone, commission_rate=commission_rate, is_available=is_available)
    _forget_cached_role(user)
    return user


@transaction.atomic
def user_set_role(*, user: User, role: str) -> User:
    """Move `user` to `role`: afterwards they are in exactly that one role group.

    A REP loses superuser status (it would override the group) and gets an active
    RepProfile (created with the default commission rate if missing). An ADMIN keeps
    any RepProfile for history, but inactive, so no new leads are routed to them.
    """
    _check_role(role)
    other = ROLE_REP if role == ROLE_ADMIN else ROLE_ADMIN
    user.groups.remove(*Group.objects.filter(name=other))
    user.groups.add(_role_group(role))

    fields = []
    if not user.is_staff:
        user.is_staff = True
        fields.append("is_staff")
    if role == ROLE_REP and user.is_superuser:
        user.is_superuser = False
        fields.append("is_superuser")
    if fields:
        user.save(update_fields=fields)

    if role == ROLE_REP:
        profile, created = RepProfile.objects.get_or_create(
            user=user,
            defaults={"commission_rate": CompanySettings.load().default_commission_rate},
        )
        if not created and not profile.is_active:
            profile.is_active = True
            profile.save(update_fields=["is_active"])
    else:
        RepProfile.objects.filter(user=user, is_active=True).update(is_active=False)
    _forget_cached_role(user)
    return user


@transaction.atomic
def user_deactivate(*, user: User, actor: User | None) -> int:
    """Take `user` off the team: they can no longer log in and get no new leads, but keep every
    row they wrote or own (texts, calls, commissions, timeline: history stays theirs). Their
    open leads (not paid or lost) are unassigned, then round-robined among the reps who can take
    them, each with an ASSIGNED timeline event. Returns how many leads found a new rep (the rest
    stay unassigned, in the round-robin of the next import, when nobody is available)."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    RepProfile.objects.filter(user=user).update(is_active=False, is_available=False)
    open_leads = Lead.objects.filter(assigned_rep=user).exclude(status__in=[Lead.Status.PAID, Lead.Status.LOST])
    freed = [lead.pk for lead in lead_bulk_assign(leads=open_leads, rep=None, actor=actor)]
    return leads_round_robin(leads=Lead.objects.filter(pk__in=freed), actor=actor, via="rep deactivated")


def _e164_lines(text: str) -> tuple[list[str], list[str]]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines, [line for line in lines if not E164.match(line)]


def company_settings_errors(values: dict) -> dict[str, str]:
    """The rules company settings must meet, field -> what is wrong, in words (empty: all good).
    `values` holds the submitted fields (missing ones are not checked)."""
    errors = {}
    start, end = values.get("quiet_hours_start"), values.get("quiet_hours_end")
    if start is not None and end is not None and start >= end:
        errors["quiet_hours_end"] = f"The sending window must end after it starts ({start:%H:%M})."
    _, bad = _e164_lines(values.get("sender_numbers") or "")
    if bad:
        errors["sender_numbers"] = (f"Not E.164 (one number per line, e.g. +15551234567): {', '.join(bad[:5])}"
                                    + (f" and {len(bad) - 5} more" if len(bad) > 5 else "") + ".")
    caller_id = (values.get("call_caller_id") or "").strip()
    if caller_id and not E164.match(caller_id):
        errors["call_caller_id"] = f"{caller_id!r} is not an E.164 number, e.g. +15551234567."
    rate = values.get("default_commission_rate")
    if rate is not None and not Decimal("0") <= Decimal(str(rate)) <= Decimal("1"):
        errors["default_commission_rate"] = f"{rate} is out of range: use 0 to 1 (0.10 = 10%)."
    colour = values.get("preview_primary_color")
    if colour is not None and not HEX_COLOUR.match(colour):
        errors["preview_primary_color"] = f"{colour!r} is not a colour: use #rrggbb, e.g. #4f46e5."
    for name in ("hot_lead_views", "hot_lead_window_minutes", "hot_lead_cool_hours"):
        if values.get(name) is not None and values[name] < 1:
            errors[name] = "Must be at least 1."
    region, currency = values.get("default_region"), values.get("currency")
    if region is not None and not re.fullmatch(r"[A-Z]{2}", region):
        errors["default_region"] = f"{region!r} is not a two-letter country code in capitals, e.g. US."
    if currency is not None and not re.fullmatch(r"[A-Za-z]{3}", currency):
        errors["currency"] = f"{currency!r} is not a three-letter currency code, e.g. usd."
    return errors


def sender_numbers_clean(text: str) -> str:
    """The sender numbers as stored: one per line, blank lines and spaces gone."""
    return "\n".join(_e164_lines(text)[0])
