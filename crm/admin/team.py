"""Users, roles, rep profiles, company settings and targets."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.http import HttpResponseRedirect
from django.urls import reverse
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from crm.admin.base import CRMModelAdmin, ScopedStackedInline
from crm.models import CompanySettings, RepProfile, Target, User

admin.site.unregister(Group)


class RepProfileInline(ScopedStackedInline):
    model = RepProfile
    can_delete = False
    fields = ["phone", "commission_rate", "is_active"]


@admin.register(User)
class UserAdmin(BaseUserAdmin, CRMModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "full_name", "email", "show_role", "is_active", "last_login"]
    list_filter = ["is_active", "groups"]
    search_fields = ["username", "first_name", "last_name", "email"]
    inlines = [RepProfileInline]
    fieldsets = BaseUserAdmin.fieldsets + (("Preferences", {"fields": ["time_zone"]}),)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

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
    """One edit page: the list redirects to the single row, no add or delete."""

    fieldsets = [
        ("Company", {"fields": ["name", "currency"]}),
        ("Texting", {"fields": ["sender_numbers", "messaging_service_sid",
                                ("quiet_hours_start", "quiet_hours_end"), "default_region",
                                "help_text_reply", "auto_enroll_sequence"]}),
        ("Preview pages", {"fields": ["preview_brand_name", "preview_primary_color", "preview_logo_url"]}),
        ("Personalisation", {"fields": ["personalisation_enabled", "personalisation_tone"]}),
        ("Hot leads", {"fields": [("hot_lead_views", "hot_lead_window_minutes")]}),
        ("Prices and commission", {"fields": [("setup_fee_cents", "monthly_plan_cents"),
                                              "default_commission_rate"]}),
    ]

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
    list_display = ["metric", "period", "period_start", "goal", "rep"]
    list_select_related = ["rep"]
    list_filter = [("metric", ChoicesDropdownFilter), ("period", ChoicesDropdownFilter)]
    search_fields = ["metric", "rep__username"]
    autocomplete_fields = ["rep"]
