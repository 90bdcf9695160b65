"""Sign-in lockouts (django-axes) under Unfold styling, for the ADMIN role only: who is locked out,
from which address and until when, clearing a lockout, and the login page a locked-out user sees."""

from datetime import datetime, timedelta

from axes import admin as axes_admin
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.decorators import action, display

from crm.selectors.login_lockouts import (
    login_attempt_locked_until,
    login_attempts_locked,
    login_attempts_with_lock_state,
)
from crm.services.login_lockouts import login_lockout_clear


def _is_admin(user) -> bool:
    return bool(user.is_active and user.is_staff and (user.is_superuser or user.is_admin))


def can_manage_lockouts(request: HttpRequest) -> bool:
    """Sidebar permission callback: the ADMIN role (axes' model permissions are granted to no group)."""
    return _is_admin(request.user)


class AdminRoleOnlyMixin:
    """Security records: viewed and cleared by the ADMIN role, never added or edited by hand."""

    def has_module_permission(self, request):
        return _is_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return _is_admin(request.user)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return _is_admin(request.user)


class LockedNowFilter(admin.SimpleListFilter):
    title = "locked out"
    parameter_name = "locked"

    def lookups(self, request, model_admin):
        return [("now", "Locked out now")]

    def queryset(self, request, queryset):
        if self.value() == "now":
            return login_attempts_locked(queryset, now=timezone.now())
        return queryset


@admin.register(AccessAttempt)
class LoginLockoutAdmin(AdminRoleOnlyMixin, axes_admin.AccessAttemptAdmin, ModelAdmin):
    list_display = ["username", "ip_address", "failures_since_start", "attempt_time", "show_locked_until",
                    "user_agent"]
    list_filter = [LockedNowFilter, ("attempt_time", RangeDateTimeFilter)]
    list_filter_submit = True
    search_fields = ["username", "ip_address"]
    date_hierarchy = None
    actions = ["unlock"]

    def get_queryset(self, request):
        return login_attempts_with_lock_state(super().get_queryset(request), now=timezone.now())

    @display(description="Locked until")
    def show_locked_until(self, obj: AccessAttempt) -> datetime | None:
        until = login_attempt_locked_until(obj)
        return until if until is not None and until > timezone.now() else None

    @action(description="Unlock: forget these failed sign-ins", permissions=["delete"])
    def unlock(self, request, queryset):
        self.log_deletions(request, queryset)
        cleared = login_lockout_clear(attempts=queryset)
        self.message_user(request, f"{cleared} username and address pair(s) unlocked: they can sign in again now.",
                          messages.SUCCESS)


@admin.register(AccessFailureLog)
class FailedSignInAdmin(AdminRoleOnlyMixin, axes_admin.AccessFailureLogAdmin, ModelAdmin):
    list_display = ["attempt_time", "username", "ip_address", "locked_out", "user_agent"]
    list_filter = ["locked_out", ("attempt_time", RangeDateTimeFilter)]
    list_filter_submit = True
    search_fields = ["username", "ip_address"]
    date_hierarchy = None

    def has_delete_permission(self, request, obj=None):
        return False


def _duration(delta: timedelta) -> str:
    minutes = max(1, round(delta.total_seconds() / 60))
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def login_lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the admin login page again (429), saying the sign-in is locked and for
    how long, with the username kept and nothing else revealed."""
    if isinstance(original_response, dict):  # axes' async path passes (request, credentials)
        credentials = original_response
    username = get_client_username(request, credentials) or ""
    wait = _duration(get_cool_off(request))
    messages.error(request, (
        f"Sign-in is locked: too many wrong passwords for “{username}” from your address. "
        f"Try again in {wait}, or ask an admin to unlock it. "
        f"Each attempt while locked starts the {wait} again."
    ))
    site = admin.site
    request.current_app = site.name
    context = {
        **site.each_context(request),
        "title": _("Log in"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": request.user.get_username(),
        REDIRECT_FIELD_NAME: reverse("admin:index", current_app=site.name),
        "form": (site.login_form or AdminAuthenticationForm)(request, initial={"username": username}),
    }
    response = TemplateResponse(request, site.login_template or "admin/login.html", context, status=429)
    return response.render()
