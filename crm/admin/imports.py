"""Lead import in the admin: upload on the Leads list, preview and confirm on the batch page."""

import csv

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from import_export.admin import ImportMixin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminFileFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from crm.admin.base import CRMModelAdmin
from crm.admin.resources import neutralise_formula
from crm.models import ImportBatch
from crm.services.imports.batches import (
    ImportStateError,
    import_batch_confirm,
    import_batch_create,
    import_batch_revert,
)
from crm.services.imports.headers import FIELD_ALIASES, REQUIRED_FIELDS
from crm.services.imports.plan import DuplicateMode
from crm.services.imports.reading import ImportFileError


class LeadImportForm(forms.Form):
    import_file = forms.FileField(
        label="File", widget=UnfoldAdminFileFieldWidget,
        help_text="CSV, TSV or XLSX. The first row holds the column names.",
    )
    duplicates = forms.ChoiceField(
        label="Leads already in the CRM (same phone)", choices=DuplicateMode.choices,
        initial=DuplicateMode.SKIP, widget=UnfoldAdminSelectWidget,
    )
    consent_source = forms.CharField(
        label="Consent source", required=False, max_length=200, widget=UnfoldAdminTextInputWidget,
        help_text="Where these contacts agreed to be texted, e.g. 'Website form, 2026'. Leave empty if none.",
    )
    consent_wording = forms.CharField(
        label="Consent wording", required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text="The exact wording they agreed to.",
    )

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > settings.IMPORT_MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1_048_576:.1f} MB; the limit is "
                f"{settings.IMPORT_MAX_UPLOAD_BYTES / 1_048_576:.0f} MB."
            )
        return upload

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("consent_wording") and not cleaned.get("consent_source"):
            self.add_error("consent_source", "Say where the consent was given, or leave the wording empty.")
        return cleaned


class LeadImportMixin(ImportMixin):
    """The Leads list's Import button, through django-import-export's admin URLs.

    The work is ours (crm.services.imports): a dry run on the batch page, then confirm.
    """

    import_template_name = "admin/crm/lead/import.html"

    def has_import_permission(self, request):
        return request.user.has_perm("crm.add_lead") and request.user.has_perm("crm.add_importbatch")

    def import_action(self, request, **kwargs):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = LeadImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            try:
                batch = import_batch_create(
                    data=upload, filename=upload.name, actor=request.user,
                    mode=form.cleaned_data["duplicates"],
                    consent_source=form.cleaned_data["consent_source"],
                    consent_wording=form.cleaned_data["consent_wording"],
                )
            except ImportFileError as exc:
                form.add_error("import_file", str(exc))
            else:
                self.log_addition(request, batch, [{"added": {}}])
                return HttpResponseRedirect(reverse("admin:crm_importbatch_change", args=[batch.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import leads",
            "form": form,
            "opts": self.model._meta,
            "media": self.media + form.media,
            "required_fields": REQUIRED_FIELDS,
            "aliases": FIELD_ALIASES,
            "max_mb": settings.IMPORT_MAX_UPLOAD_BYTES // 1_048_576,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    def process_import(self, request, **kwargs):
        raise Http404("Confirm imports on their import batch page.")


@admin.register(ImportBatch)
class ImportBatchAdmin(CRMModelAdmin):
    list_display = [
        "__str__", "uploaded_by", "show_status", "total_rows", "created_count", "updated_count",
        "skipped_count", "duplicate_count", "error_count", "created_at",
    ]
    list_select_related = ["uploaded_by"]
    list_filter = [("status", ChoicesDropdownFilter), ("created_at", RangeDateTimeFilter)]
    search_fields = ["original_name", "uploaded_by__username"]
    readonly_fields = [
        "original_name", "file", "uploaded_by", "status", "total_rows", "processed_rows", "created_count",
        "updated_count", "skipped_count", "duplicate_count", "error_count", "options",
        "consent_source", "consent_wording", "consent_recorded_by", "consent_recorded_at",
        "error_message", "created_at", "finished_at",
    ]
    exclude = ["error_report", "summary"]
    # Outside the change form: the summary holds its own Confirm form, and forms cannot nest.
    change_form_outer_before_template = "admin/crm/importbatch/summary.html"
    actions = ["revert_imports"]
    actions_detail = ["revert_import"]

    def has_add_permission(self, request):
        return False  # imports start from the Leads list

    def has_change_permission(self, request, obj=None):
        return False  # a batch is a record; it changes only through its workflow

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<int:object_id>/confirm/", self.admin_site.admin_view(self.confirm_view),
                 name="%s_%s_confirm" % info),
            path("<int:object_id>/progress/", self.admin_site.admin_view(self.progress_view),
                 name="%s_%s_progress" % info),
            path("<int:object_id>/report.csv", self.admin_site.admin_view(self.report_view),
                 name="%s_%s_report" % info),
        ] + super().get_urls()

    @display(description="Status", ordering="status", label={
        ImportBatch.Status.DONE: "success", ImportBatch.Status.FAILED: "danger",
        ImportBatch.Status.RUNNING: "warning", ImportBatch.Status.CHECKING: "warning",
        ImportBatch.Status.PREVIEWED: "info", ImportBatch.Status.REVERTED: "info",
    })
    def show_status(self, obj: ImportBatch) -> str:
        return obj.status

    def _get_batch(self, request, object_id) -> ImportBatch:
        batch = self.get_object(request, str(object_id))
        if batch is None or not self.has_view_permission(request, batch):
            raise Http404("No such import")
        return batch

    def confirm_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:crm_importbatch_change", args=[object_id]))
        if not request.user.has_perm("crm.add_lead"):
            raise PermissionDenied
        batch = self._get_batch(request, object_id)
        try:
            batch = import_batch_confirm(batch_id=batch.pk, actor=request.user)
        except ImportStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.log_change(request, batch, "Confirmed import")
            if batch.status == ImportBatch.Status.DONE:
                self.message_user(request, f"Imported: {batch.created_count} created, {batch.updated_count} "
                                  f"updated, {batch.skipped_count} skipped, {batch.duplicate_count} duplicates, "
                                  f"{batch.error_count} invalid.", messages.SUCCESS)
            else:
                self.message_user(request, "The import is running in the background; this page shows its progress.",
                                  messages.INFO)
        return HttpResponseRedirect(reverse("admin:crm_importbatch_change", args=[batch.pk]))

    def progress_view(self, request, object_id):
        batch = self._get_batch(request, object_id)
        return JsonResponse({"status": batch.status, "processed": batch.processed_rows,
                             "total": batch.total_rows, "percent": batch.progress_percent})

    def report_view(self, request, object_id):
        batch = self._get_batch(request, object_id)
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="import-{batch.pk}-report.csv"'
        writer = csv.DictWriter(response, fieldnames=["row", "column", "value", "reason"])
        writer.writeheader()
        for line in batch.error_report:
            writer.writerow({key: neutralise_formula(str(line.get(key, ""))) for key in writer.fieldnames})
        return response

    def _revert(self, request, batch: ImportBatch) -> None:
        try:
            result = import_batch_revert(batch=batch, actor=request.user)
        except ImportStateError as exc:
            self.message_user(request, f"{batch}: {exc}", messages.ERROR)
            return
        self.log_change(request, batch, f"Undone: {result.deleted} leads deleted, {len(result.kept)} kept")
        kept = "; ".join(f"{k['business_name']} ({k['reason']})" for k in result.kept[:10])
        more = f" and {len(result.kept) - 10} more" if len(result.kept) > 10 else ""
        self.message_user(
            request,
            f"{batch}: deleted {result.deleted} lead(s) with no activity; kept {len(result.kept)}"
            + (f": {kept}{more}." if result.kept else "."),
            messages.SUCCESS,
        )

    @action(description="Undo selected imports (delete their untouched leads)", permissions=["delete"])
    def revert_imports(self, request, queryset):
        for batch in queryset:
            self._revert(request, batch)

    @action(description="Undo this import", permissions=["delete"], icon="undo")
    def revert_import(self, request, object_id):
        batch = self._get_batch(request, object_id)
        if request.method != "POST":
            context = {**self.admin_site.each_context(request), "title": f"Undo {batch}?",
                       "batch": batch, "opts": self.opts}
            return TemplateResponse(request, "admin/crm/importbatch/revert_confirm.html", context)
        self._revert(request, batch)
        return HttpResponseRedirect(reverse("admin:crm_importbatch_change", args=[object_id]))
