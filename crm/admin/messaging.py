"""Texts, calls, templates, sequences and enrolments."""

from contextvars import ContextVar

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import display

from crm.admin.base import CRMModelAdmin, ReadOnlyAdminMixin, ScopedTabularInline
from crm.admin.paginator import EstimatedCountPaginator
from crm.models import (
    BulkSend,
    Call,
    CompanySettings,
    Enrollment,
    Lead,
    Message,
    MessageTemplate,
    Sequence,
    SequenceStep,
)
from crm.selectors.messaging import bulk_send_progress
from crm.services.messaging.templates import (
    preview_url,
    sms_segments,
    template_context,
    template_errors,
    template_render,
)

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
        ("lead__assigned_rep", RelatedDropdownFilter),
        ("created_at", RangeDateTimeFilter),
    ]
    search_fields = ["body", "=to_number", "=from_number", "=provider_sid", "lead__business_name"]

    def get_list_filter(self, request):
        if request.user.is_rep:
            return [f for f in self.list_filter if f[0] != "lead__assigned_rep"]
        return self.list_filter
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


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["name", "body", "is_active"]

    def clean_body(self):
        body = self.cleaned_data["body"]
        errors = template_errors(body)
        if errors:
            raise forms.ValidationError(errors)
        return body


_LIST_SAMPLE: ContextVar[tuple | None] = ContextVar("message_template_list_sample", default=None)
SAMPLE_LEAD = Lead(business_name="Sunrise Plumbing", contact_first_name="Maria", city="Austin", state="TX",
                   first_line="When a pipe bursts in Austin, people search fast, so we built you a site.",
                   preview_token="sample-token")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(CRMModelAdmin):
    form = MessageTemplateForm
    list_display = ["name", "is_active", "segments", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "body"]
    readonly_fields = ["rendered_preview"]
    fields = ["name", "body", "is_active", "rendered_preview"]

    def changelist_view(self, request, extra_context=None):
        # The list renders every row with one sample lead and the company, read once per page
        # (it read both again for each row).
        token = _LIST_SAMPLE.set(self._sample())
        try:
            response = super().changelist_view(request, extra_context)
            return response.render() if hasattr(response, "render") else response
        finally:
            _LIST_SAMPLE.reset(token)

    def _sample(self) -> tuple[Lead, CompanySettings]:
        lead = Lead.objects.exclude(first_line="").select_related("assigned_rep").first() or SAMPLE_LEAD
        return lead, CompanySettings.load()

    def _render(self, obj: MessageTemplate) -> str:
        if not obj.body or template_errors(obj.body):
            return ""
        lead, company = _LIST_SAMPLE.get() or self._sample()
        context = template_context(lead=lead, company=company, preview_url=preview_url(lead),
                                   checkout_url="https://checkout.example/c/sample")
        return template_render(obj.body, context)

    @display(description="Segments")
    def segments(self, obj: MessageTemplate) -> str:
        text = self._render(obj)
        if not text:
            return "-"
        info = sms_segments(text)
        return f"{info['segments']} ({info['encoding']})"

    @display(description="Preview")
    def rendered_preview(self, obj: MessageTemplate) -> str:
        text = self._render(obj)
        if not text:
            return "Save a valid template to see it rendered."
        info = sms_segments(text)
        return format_html("<div class='whitespace-pre-wrap'>{}</div><p class='text-subtle mt-1'>{} characters, "
                           "{} segment(s), {}. Rendered for a real lead when there is one.</p>",
                           text, info["length"], info["segments"], info["encoding"])


class SequenceStepInline(ScopedTabularInline):
    """Delays count from the previous step (Day 0, then +2 days, then +3 days ...)."""

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


@admin.register(BulkSend)
class BulkSendAdmin(ReadOnlyAdminMixin, CRMModelAdmin):
    """A bulk text's progress: what the gate said when it was queued, and where its texts are now."""

    list_display = ["created_at", "created_by", "short_body", "selected", "queued", "skipped_duplicates",
                    "progress"]
    list_select_related = ["created_by"]
    search_fields = ["body"]
    readonly_fields = ["created_at", "created_by", "body", "selected", "queued", "skipped_duplicates",
                       "refusals", "progress", "messages_link"]
    fields = readonly_fields

    @display(description="Text")
    def short_body(self, obj: BulkSend) -> str:
        return obj.body if len(obj.body) <= 60 else obj.body[:57] + "..."

    @display(description="Not queued")
    def refusals(self, obj: BulkSend) -> str:
        return "; ".join(f"{n} {reason}" for reason, n in (obj.refused or {}).items()) or "-"

    @display(description="Progress")
    def progress(self, obj: BulkSend) -> str:
        counts = bulk_send_progress(bulk_send=obj)
        return ", ".join(f"{n} {status}" for status, n in counts.items()) or "nothing queued"

    @display(description="Texts")
    def messages_link(self, obj: BulkSend) -> str:
        url = reverse("admin:crm_message_changelist") + f"?bulk_send__id__exact={obj.pk}"
        return format_html('<a class="text-primary-600" href="{}">See each text</a>', url)


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
