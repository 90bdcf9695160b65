"""Users, roles, rep profiles, company settings and targets."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.http import HttpResponseRedirect
from django.urls import reverse
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm

from crm.admin.base import CRMModelAdmin, ScopedStackedInline
from crm.admin.team_forms import COMPANY_SETTINGS_FIELDSETS, CompanySettingsForm, TargetForm, TeamMemberCreationForm
from crm.models import CompanySettings, RepProfile, Target, User
from crm.models.team import ROLE_REP
from crm.services.team import user_create, user_deactivate

admin.site.unregister(Group)


class RepProfileInline(ScopedStackedInline):
    model = RepProfile
    can_delete = False
    fields = ["phone", "commission_rate", "is_active", "is_available", "assignment_weight"]


@admin.register(User)
class UserAdmin(BaseUserAdmin, CRMModelAdmin):
    form = UserChangeForm
    add_form = TeamMemberCreationForm
    add_fieldsets = (
        (None, {"fields": ["username", ("first_name", "last_name"), "email", "password1", "password2"]}),
        ("Role", {"fields": ["role", "time_zone"]}),
        ("For a rep", {"fields": ["phone", "commission_rate", "is_available"]}),
    )
    change_password_form = AdminPasswordChangeForm
    actions = ["deactivate_and_reassign"]
    list_display = ["username", "full_name", "email", "show_role", "is_active", "last_login"]
    list_filter = ["is_active", "groups"]
    search_fields = ["username", "first_name", "last_name", "email"]
    inlines = [RepProfileInline]
    fieldsets = BaseUserAdmin.fieldsets + (("Preferences", {"fields": ["time_zone"]}),)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # the add form asks for the rep's details itself

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        data = form.cleaned_data
        is_rep = data["role"] == ROLE_REP
        created = user_create(
            username=data["username"], password=data["password1"], role=data["role"], email=data["email"],
            first_name=data["first_name"], last_name=data["last_name"], time_zone=data["time_zone"],
            phone=data["phone"] if is_rep else "", commission_rate=data["commission_rate"] if is_rep else None,
            is_available=data["is_available"] if is_rep else True,
        )
        obj.pk, obj.password, obj.is_staff = created.pk, created.password, created.is_staff
        obj._state.adding, obj._state.db = False, created._state.db

    @admin.action(description="Deactivate and pass their open leads on (history is kept)")
    def deactivate_and_reassign(self, request, queryset):
        users = [user for user in queryset.filter(is_active=True) if user != request.user]
        moved = sum(user_deactivate(user=user, actor=request.user) for user in users)
        self.message_user(request, f"{len(users)} deactivated; {moved} open leads went to other reps "
                                   "by round-robin (any left are unassigned until a rep is available).")

    @display(description="Name")
    def full_name(self, obj: User) -> str:
        return obj.get_full_name()

    @display(description="Role", label={"ADMIN": "danger", "REP": "info"})
    def show_role(self, obj: User) -> str:
        names = {g.name for g in obj.groups.all()}
        return "ADMIN" if obj.is_superuser or "ADMIN" in names else ("REP" if "REP" in names else "-")


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, CRMModelAdmin):
    pass


@admin.register(CompanySettings)
class CompanySettingsAdmin(CRMModelAdmin):
    """One edit page in tabs, every field explained: the list redirects to the single row, no add
    or delete. The rules: crm.services.team.company_settings_errors."""

    form = CompanySettingsForm
    fieldsets = COMPANY_SETTINGS_FIELDSETS  # auto_assign_leads: on the "Calls and assignment" tab

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            return super().changelist_view(request, extra_context)
        obj = CompanySettings.load()
        return HttpResponseRedirect(reverse("admin:crm_companysettings_change", args=[obj.pk]))


@admin.register(Target)
class TargetAdmin(CRMModelAdmin):
    """Goals per metric and period for the team (no rep) or one rep; the dashboard compares this
    month's with the month's numbers."""

    form = TargetForm
    list_display = ["metric", "period", "period_start", "goal", "show_for"]
    list_select_related = ["rep"]
    list_filter = [("metric", ChoicesDropdownFilter), ("period", ChoicesDropdownFilter)]
    search_fields = ["metric", "rep__username"]
    autocomplete_fields = ["rep"]

    @display(description="For")
    def show_for(self, obj: Target) -> str:
        return str(obj.rep) if obj.rep_id else "Team"
