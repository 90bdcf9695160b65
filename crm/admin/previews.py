"""What leads did on their preview pages (written only by the tracking endpoint)."""

from django.contrib import admin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter

from crm.admin.base import CRMModelAdmin, ReadOnlyAdminMixin
from crm.admin.paginator import EstimatedCountPaginator
from crm.models import PreviewEvent


@admin.register(PreviewEvent)
class PreviewEventAdmin(ReadOnlyAdminMixin, CRMModelAdmin):
    list_display = ["created_at", "lead", "kind", "seconds", "target", "session_id"]
    list_select_related = ["lead"]
    list_filter = [("kind", ChoicesDropdownFilter), ("created_at", RangeDateTimeFilter)]
    search_fields = ["lead__business_name", "=session_id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
