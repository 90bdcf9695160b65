"""API tokens: made here for a user and shown once, listed by name and prefix, revoked by action."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from crm.admin.base import CRMModelAdmin
from crm.models import ApiToken, User
from crm.services.api_tokens import api_token_create, api_token_revoke


class ApiTokenCreateForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.filter(is_active=True).order_by("username"),
                                  widget=UnfoldAdminSelectWidget,
                                  help_text="The token sees exactly what this user sees in the admin.")
    name = forms.CharField(max_length=100, widget=UnfoldAdminTextInputWidget,
                           help_text="What will use it, e.g. 'Website form'.")


@admin.register(ApiToken)
class ApiTokenAdmin(CRMModelAdmin):
    list_display = ["name", "prefix", "user", "show_state", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["secret_hash"]
    actions = ["revoke_tokens"]
    actions_detail = ["revoke_token"]

    def has_change_permission(self, request, obj=None):
        return False  # a token is made and revoked, never edited

    @display(description="State", label={"active": "success", "revoked": "danger"})
    def show_state(self, obj: ApiToken) -> str:
        return "active" if obj.is_active else "revoked"

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiTokenCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            token, raw = api_token_create(user=form.cleaned_data["user"], name=form.cleaned_data["name"],
                                          actor=request.user)
            self.log_addition(request, token, [{"added": {}}])
            # Rendered, never redirected: the token must not pass through the session or a cookie.
            context = {**self.admin_site.each_context(request), "title": f"API token “{token.name}” created",
                       "token": token, "raw_token": raw, "opts": self.opts}
            response = TemplateResponse(request, "admin/crm/apitoken/created.html", context)
            response["Cache-Control"] = "no-store"
            return response
        context = {**self.admin_site.each_context(request), "title": "New API token", "form": form,
                   "opts": self.opts, "media": self.media + form.media}
        return TemplateResponse(request, "admin/crm/apitoken/add.html", context)

    def _revoke(self, request, token: ApiToken) -> None:
        if api_token_revoke(token=token):
            self.log_change(request, token, "Revoked")
            self.message_user(request, f"{token}: revoked; it no longer works.", messages.SUCCESS)
        else:
            self.message_user(request, f"{token}: was already revoked.", messages.WARNING)

    @action(description="Revoke selected tokens", permissions=["delete"])
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            self._revoke(request, token)

    @action(description="Revoke this token", permissions=["delete"], icon="block")
    def revoke_token(self, request, object_id):
        token = self.get_object(request, str(object_id))
        if token is None:
            raise PermissionDenied
        if request.method != "POST":
            context = {**self.admin_site.each_context(request), "title": f"Revoke {token}?", "token": token,
                       "opts": self.opts}
            return TemplateResponse(request, "admin/crm/apitoken/revoke_confirm.html", context)
        self._revoke(request, token)
        return HttpResponseRedirect(reverse("admin:crm_apitoken_change", args=[object_id]))
