"""What leads did on their preview pages (written only by the tracking endpoint)."""

from django.contrib import admin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter

from crm.admin.base import CRMModelAdmin, ReadOnlyAdminMixin
from crm.admin.paginator import EstimatedCountPaginator
from crm.models import PreviewEvent


@admin.register(PreviewEvent)
class PreviewEventAdmin(ReadOnlyAdminMixin, CRMModelAdmin):
    list_display = ["created_at", "lead", "kind", "seconds", "target", "session_id"]
    list_select_related = ["lead"]
    list_filter = [("kind", ChoicesDropdownFilter), ("created_at", RangeDateTimeFilter),
                   ("lead__assigned_rep", RelatedDropdownFilter)]
    search_fields = ["lead__business_name", "=session_id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_list_filter(self, request):
        if request.user.is_rep:  # their own events only: no other rep to pick
            return [f for f in self.list_filter if f[0] != "lead__assigned_rep"]
        return self.list_filter

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
