"""Texts, calls, templates, sequences and enrolments."""

from django.contrib import admin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import display

from crm.admin.base import CRMModelAdmin, ReadOnlyAdminMixin, ScopedTabularInline
from crm.admin.paginator import EstimatedCountPaginator
from crm.models import Call, Enrollment, Message, MessageTemplate, Sequence, SequenceStep

MESSAGE_STATUS_COLOURS = {
    Message.Status.DELIVERED: "success",
    Message.Status.RECEIVED: "success",
    Message.Status.SENT: "info",
    Message.Status.QUEUED: "info",
    Message.Status.SENDING: "info",
    Message.Status.UNDELIVERED: "danger",
    Message.Status.FAILED: "danger",
    Message.Status.CANCELED: "warning",
}


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, CRMModelAdmin):
    list_display = ["created_at", "lead", "direction", "short_body", "show_status", "error_code", "sent_by"]
    list_select_related = ["lead", "sent_by"]
    list_filter = [
        ("direction", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
        ("created_at", RangeDateTimeFilter),
    ]
    search_fields = ["body", "=to_number", "=from_number", "=provider_sid", "lead__business_name"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    @display(description="Text")
    def short_body(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:77] + "..."

    @display(description="Status", ordering="status", label=MESSAGE_STATUS_COLOURS)
    def show_status(self, obj: Message) -> str:
        return obj.status

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(MessageTemplate)
class MessageTemplateAdmin(CRMModelAdmin):
    list_display = ["name", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "body"]


class SequenceStepInline(ScopedTabularInline):
    model = SequenceStep
    fields = ["order", "delay_days", "delay_hours", "template", "send_window_start", "send_window_end"]
    ordering = ["order"]
    autocomplete_fields = ["template"]


@admin.register(Sequence)
class SequenceAdmin(CRMModelAdmin):
    list_display = ["name", "is_active", "step_count", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    inlines = [SequenceStepInline]

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_step_count=Count("steps"))

    @display(description="Steps", ordering="_step_count")
    def step_count(self, obj: Sequence) -> int:
        return obj._step_count


@admin.register(Enrollment)
class EnrollmentAdmin(CRMModelAdmin):
    list_display = ["lead", "sequence", "show_status", "next_step", "next_run_at", "stop_reason", "created_at"]
    list_select_related = ["lead", "sequence", "next_step"]
    list_filter = [("status", ChoicesDropdownFilter), ("sequence", RelatedDropdownFilter)]
    search_fields = ["lead__business_name", "=lead__phone"]
    autocomplete_fields = ["lead", "sequence"]
    readonly_fields = ["enrolled_by", "stopped_at", "created_at"]

    @display(description="Status", ordering="status", label={
        Enrollment.Status.ACTIVE: "success", Enrollment.Status.STOPPED: "danger",
        Enrollment.Status.COMPLETED: "info",
    })
    def show_status(self, obj: Enrollment) -> str:
        return obj.status


@admin.register(Call)
class CallAdmin(CRMModelAdmin):
    list_display = ["created_at", "lead", "rep", "status", "outcome", "duration_seconds"]
    list_select_related = ["lead", "rep"]
    list_filter = [("status", ChoicesDropdownFilter), ("outcome", ChoicesDropdownFilter),
                   ("created_at", RangeDateTimeFilter)]
    search_fields = ["lead__business_name", "=lead__phone", "notes"]
    autocomplete_fields = ["lead"]
    readonly_fields = ["provider_sid", "status", "duration_seconds", "created_at", "ended_at"]
    fields = ["lead", "rep", "outcome", "notes", "provider_sid", "status", "duration_seconds",
              "created_at", "ended_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if request.user.is_rep:
            fields.append("rep")
        return fields

    def save_model(self, request, obj, form, change):
        if not change and obj.rep_id is None:
            obj.rep = request.user
        super().save_model(request, obj, form, change)
