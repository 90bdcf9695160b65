"""Saved replies: admins manage the shared ones (no owner); a rep reads those and keeps their own."""

from django import forms
from django.contrib import admin
from unfold.decorators import display

from crm.admin.base import CRMModelAdmin
from crm.models import SavedReply
from crm.services.messaging.templates import ALLOWED_VARIABLES, template_errors


class SavedReplyForm(forms.ModelForm):
    class Meta:
        model = SavedReply
        fields = ["title", "body", "owner"]
        help_texts = {"body": "Merge fields: " + ", ".join(f"{{{name}}}" for name in ALLOWED_VARIABLES)
                              + ". They are filled in for the lead when the reply is picked."}

    def clean_body(self):
        body = self.cleaned_data["body"]
        errors = template_errors(body)
        if errors:
            raise forms.ValidationError(errors)
        return body


@admin.register(SavedReply)
class SavedReplyAdmin(CRMModelAdmin):
    form = SavedReplyForm
    list_display = ["title", "whose", "body_start"]
    list_select_related = ["owner"]
    search_fields = ["title", "body"]

    def get_fields(self, request, obj=None):
        # A rep's replies are always their own: the owner is not theirs to choose.
        return ["title", "body"] if request.user.is_rep else ["title", "body", "owner"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("owner")

    def _rep_may_write(self, request, obj) -> bool:
        return not request.user.is_rep or obj is None or obj.owner_id == request.user.pk

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._rep_may_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._rep_may_write(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            kwargs["required"] = False
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if request.user.is_rep:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    @display(description="Whose")
    def whose(self, obj: SavedReply) -> str:
        return "Shared" if obj.owner_id is None else str(obj.owner)

    @display(description="Text")
    def body_start(self, obj: SavedReply) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"
