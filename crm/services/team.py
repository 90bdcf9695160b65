"""Team writes: staff users, their role (the ADMIN or REP group) and the rep profile."""

from decimal import Decimal
from zoneinfo import available_timezones

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from crm.models import CompanySettings, RepProfile, User
from crm.models.team import ROLE_ADMIN, ROLE_REP

ROLES = (ROLE_ADMIN, ROLE_REP)


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
        RepProfile.objects.create(user=user, phone=phone, commission_rate=commission_rate)
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
