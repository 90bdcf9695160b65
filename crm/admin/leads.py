"""Leads, their timelines and the import batches they came from."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html
from import_export.admin import ExportMixin
from import_export.formats import base_formats
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    RangeNumericFilter,
    RangeDateTimeFilter,
    RelatedDropdownFilter,
)
from unfold.contrib.import_export.forms import ExportForm
from unfold.decorators import action, display

from crm.admin.base import CRMModelAdmin, ReadOnlyAdminMixin, ReadOnlyTabularInline
from crm.admin.conversation import LeadConversationAdminMixin
from crm.admin.imports import LeadImportMixin
from crm.admin.lead_assign import LeadAssignAdminMixin
from crm.admin.lead_billing import LeadBillingAdminMixin
from crm.admin.lead_work import LeadWorkAdminMixin
from crm.admin.list_rendering import FastListMixin, label_html
from crm.admin.paginator import EstimatedCountPaginator
from crm.admin.pipeline import LeadPipelineAdminMixin, PipelineFilter
from crm.admin.resources import LeadExportResource
from crm.models import Lead, Message, TimelineEvent
from crm.selectors.lead_search import leads_search
from crm.selectors.previews import preview_analytics
from crm.services.leads import lead_bulk_set_status, lead_create, lead_update, lead_validate

STATUS_COLOURS = {
    Lead.Status.NEW: "info",
    Lead.Status.CONTACTED: "info",
    Lead.Status.ENGAGED: "warning",
    Lead.Status.REPLIED: "warning",
    Lead.Status.NEGOTIATING: "warning",
    Lead.Status.PAID: "success",
    Lead.Status.LOST: "danger",
}
PRIORITY_COLOURS = {Lead.Priority.NORMAL: "info", Lead.Priority.WARM: "warning", Lead.Priority.HOT: "danger"}


def log_bulk_change(request, queryset_or_objs, message: str) -> None:
    """One admin-history entry per changed object, written in one query."""
    objs = list(queryset_or_objs)
    if objs:
        LogEntry.objects.log_actions(
            user_id=request.user.pk,
            queryset=objs,
            action_flag=CHANGE,
            change_message=message,
        )


class LeadAdminForm(forms.ModelForm):
    """Checks what was typed by the import's rules (crm.services.leads.lead_validate): a phone
    is stored as E.164, and a bad or taken value is an error on its field."""

    def clean(self):
        cleaned = super().clean()
        lead = self.instance if self.instance.pk else None
        data = {name: cleaned[name] for name in (self.changed_data if lead else self.fields) if name in cleaned}
        try:
            cleaned.update(lead_validate(data=data, lead=lead))
        except ValidationError as exc:
            for name, errors in exc.error_dict.items():
                self.add_error(name if name in self.fields else None, [_error_text(e) for e in errors])
        return cleaned


def _error_text(error: ValidationError):
    if error.code != "duplicate":
        return error
    url = reverse("admin:crm_lead_change", args=[error.params["lead_id"]])
    return ValidationError(
        format_html('{} already belongs to <a href="{}" class="underline">{}</a>.',
                    error.params["phone"], url, error.params["business_name"]),
        code="duplicate",
    )


class TimelineInline(ReadOnlyTabularInline):
    model = TimelineEvent
    fields = ["created_at", "kind", "actor", "data"]
    ordering = ["-created_at", "-id"]
    verbose_name_plural = "Timeline (newest first)"
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class MessageInline(ReadOnlyTabularInline):
    model = Message
    fields = ["created_at", "direction", "body", "status", "from_number", "to_number"]
    ordering = ["-created_at", "-id"]
    verbose_name_plural = "Messages (newest first)"


@admin.register(Lead)
class LeadAdmin(LeadWorkAdminMixin, LeadAssignAdminMixin, LeadBillingAdminMixin, LeadConversationAdminMixin, LeadPipelineAdminMixin,
                LeadImportMixin, ExportMixin, FastListMixin, CRMModelAdmin):
    form = LeadAdminForm
    resource_classes = [LeadExportResource]
    export_form_class = ExportForm
    export_formats = [base_formats.CSV, base_formats.XLSX]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_select_related = ["assigned_rep"]
    list_display = [
        "business_name",
        "phone",
        "location",
        "show_status",
        "show_priority",
        "assigned_rep",
        "engagement_score",
        "created_at",
    ]
    list_filter = [
        ("status", ChoicesDropdownFilter),
        ("priority", ChoicesDropdownFilter),
        ("assigned_rep", RelatedDropdownFilter),
        PipelineFilter,
        ("engagement_score", RangeNumericFilter),
        ("created_at", RangeDateTimeFilter),
    ]
    search_fields = ["business_name", "=phone", "email", "city"]
    autocomplete_fields = ["assigned_rep"]
    readonly_fields = [
        "preview_link",
        "time_zone",
        "time_zone_source",
        "enrichment_status",
        "enrichment_error",
        "enrichment_attempts",
        "enriched_at",
        "enrichment_facts",
        "time_zone_display",
        "first_line_origin",
        "engagement_score",
        "opted_out_at",
        "number_flagged_at",
        "hot_at",
        "last_contacted_at",
        "last_viewed_at",
        "source_batch",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        ("Business", {"fields": [
            "business_name", ("contact_first_name", "contact_last_name"), "phone", "email",
            "website", "category",
        ]}),
        ("Address", {"fields": ["address", ("city", "state", "postcode"), "country",
                                ("latitude", "longitude"), "time_zone_display"]}),
        ("Pipeline", {"fields": [
            ("status", "priority"), "assigned_rep", "notes", "preview_link", "engagement_score",
            ("hot_at", "last_contacted_at", "last_viewed_at"),
        ]}),
        ("First line", {"fields": ["first_line", "first_line_origin"]}),
        ("Enrichment", {"fields": [
            "enrichment_facts", ("enrichment_status", "enrichment_attempts", "enriched_at"), "enrichment_error",
        ]}),
        ("Consent", {"classes": ["collapse"], "fields": [
            "consent_source", "consent_at", "opted_out_at", "number_flagged_at",
        ]}),
        ("Record", {"classes": ["collapse"], "fields": ["source_batch", "created_at", "updated_at"]}),
    ]
    inlines = [TimelineInline, MessageInline]
    change_form_after_template = "admin/crm/lead/analytics.html"
    actions = ["send_text", "enroll_in_sequence", "mark_lost", "mark_negotiating", "retry_enrichment", "regenerate_first_line"]

    def get_list_filter(self, request):
        if request.user.is_rep:
            # A rep's list holds only their own leads; the rep filter would list colleagues.
            return [f for f in self.list_filter if not (isinstance(f, tuple) and f[0] == "assigned_rep")]
        return self.list_filter

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if request.user.is_rep:
            fields += ["assigned_rep", "phone"]
        if not request.user.is_admin:
            # Consent is evidence: written by an import's attestation or by an admin.
            fields += ["consent_source", "consent_at"]
        return fields

    def save_model(self, request, obj, form, change):
        # The form checked the values; the service writes them, with their timeline events.
        names = form.changed_data if change else form.fields
        data = {name: form.cleaned_data[name] for name in names if name in form.cleaned_data}
        if change:
            lead_update(lead=obj, data=data, actor=request.user)
        else:
            obj.pk = lead_create(data=data, actor=request.user).pk
            obj._state.adding = False
        obj.refresh_from_db()

    def get_search_results(self, request, queryset, search_term):
        # A phone as typed, or words of a name, email or city: crm.selectors.lead_search.
        return leads_search(queryset=queryset, term=search_term), False

    def get_autocomplete_fields(self, request):
        return [] if request.user.is_rep else super().get_autocomplete_fields(request)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            # The "Preview activity" panel under the form (change_form_after_template).
            analytics = preview_analytics(lead=obj)
            minutes, seconds = divmod(analytics["seconds"], 60)
            context["analytics"] = {**analytics, "time_on_page": f"{minutes} min {seconds} s"}
            context["analytics_chart"] = json.dumps({"labels": analytics["days"], "datasets": [{
                "label": "Views", "data": analytics["views_per_day"], "backgroundColor": "var(--color-primary-600)",
                "maxBarThickness": 18, "displayYAxis": True, "maxTicksXLimit": 7,
            }]})
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    @display(description="Location")
    def location(self, obj: Lead) -> str:
        return ", ".join(part for part in [obj.city, obj.state] if part)

    @display(description="Status", ordering="status")
    def show_status(self, obj: Lead) -> str:
        return label_html(obj.status, STATUS_COLOURS.get(obj.status))

    @display(description="Priority", ordering="priority")
    def show_priority(self, obj: Lead) -> str:
        return label_html(obj.priority, PRIORITY_COLOURS.get(obj.priority))

    @display(description="Preview page")
    def preview_link(self, obj: Lead) -> str:
        if not obj.pk:
            return "-"
        url = reverse("preview:page", args=[obj.preview_token])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, url)

    def _set_status(self, request, queryset: QuerySet, status: str) -> None:
        # The changelist queryset LEFT JOINs assigned_rep (list_select_related); PostgreSQL
        # refuses SELECT ... FOR UPDATE on the nullable side of an outer join.
        changed = lead_bulk_set_status(
            leads=queryset.select_related(None), status=status, actor=request.user
        )
        log_bulk_change(request, changed, f"Status set to {status}")
        self.message_user(
            request, f"{len(changed)} lead(s) marked {Lead.Status(status).label}.", messages.SUCCESS
        )

    @action(description="Mark selected leads as lost", permissions=["change"])
    def mark_lost(self, request, queryset):
        self._set_status(request, queryset, Lead.Status.LOST)

    @action(description="Mark selected leads as negotiating", permissions=["change"])
    def mark_negotiating(self, request, queryset):
        self._set_status(request, queryset, Lead.Status.NEGOTIATING)


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdminMixin, CRMModelAdmin):
    list_display = ["created_at", "lead", "kind", "actor"]
    list_select_related = ["lead", "actor"]
    list_filter = [("kind", ChoicesDropdownFilter), ("created_at", RangeDateTimeFilter)]
    search_fields = ["lead__business_name", "=lead__phone"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser
