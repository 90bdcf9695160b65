"""The lead page's two-way text thread with a reply box through the gate, and bulk enrolment."""

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from unfold.decorators import action
from unfold.widgets import UnfoldAdminSelectWidget

from crm.models import Message, Sequence
from crm.services.enrollments import enrollment_create, enrollment_refusal
from crm.services.messaging.gate import can_send
from crm.services.messaging.sending import SendRefused, sms_send
from crm.services.messaging.templates import sms_segments

THREAD_LIMIT = 100


class BulkTextForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "class": "border border-base-200 rounded-default px-3 py-2 w-full"}),
                           max_length=1600, help_text="Sent now to each lead the gate allows; the rest are listed with why.")


class EnrollForm(forms.Form):
    sequence = forms.ModelChoiceField(queryset=Sequence.objects.filter(is_active=True),
                                      widget=UnfoldAdminSelectWidget, empty_label=None)


class LeadConversationAdminMixin:
    change_form_outer_before_template = "admin/crm/lead/conversation.html"

    def get_urls(self):
        return [
            path("<int:object_id>/reply/", self.admin_site.admin_view(self.reply_view), name="crm_lead_reply"),
        ] + super().get_urls()

    def conversation_context(self, request, lead) -> dict:
        thread = list(Message.objects.filter(lead=lead).select_related("sent_by")
                      .order_by("-created_at", "-id")[:THREAD_LIMIT])
        thread.reverse()
        decision = can_send(lead, automated=False)
        return {"thread": thread, "reply_allowed": bool(decision), "reply_refusal": decision.reason,
                "reply_url": reverse("admin:crm_lead_reply", args=[lead.pk]),
                "can_reply": self.has_change_permission(request, lead)}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, object_id)
        if lead is not None:
            extra_context = {**(extra_context or {}), **self.conversation_context(request, lead)}
        return super().change_view(request, object_id, form_url, extra_context)

    def reply_view(self, request, object_id):
        """Send a reply typed on the lead page; the gate decides, and says why when it refuses."""
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:crm_lead_change", args=[object_id]))
        lead = self.get_object(request, str(object_id))
        if lead is None:
            raise Http404("No such lead")
        if not (self.has_change_permission(request, lead) and request.user.has_perm("crm.add_message")):
            raise PermissionDenied
        try:
            message = sms_send(lead=lead, body=request.POST.get("body", ""), sent_by=request.user)
        except SendRefused as exc:
            self.message_user(request, f"Not sent: {exc}.", messages.ERROR)
        else:
            level = messages.SUCCESS if message.status not in ("failed", "canceled") else messages.ERROR
            info = sms_segments(message.body)
            self.message_user(request, f"Text {message.get_status_display().lower()} "
                              f"({info['segments']} segment(s)){': ' + message.error_message if message.error_message else ''}.",
                              level)
            self.log_change(request, lead, f"Sent a text ({message.pk})")
        return HttpResponseRedirect(reverse("admin:crm_lead_change", args=[object_id]) + "#conversation")

    @action(description="Send a text to selected leads", permissions=["change"])
    def send_text(self, request, queryset):
        if not request.user.has_perm("crm.add_message"):
            raise PermissionDenied
        form = BulkTextForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            sent, refused = 0, {}
            for lead in queryset.select_related("assigned_rep"):
                try:
                    sms_send(lead=lead, body=form.cleaned_data["body"], sent_by=request.user, automated=True)
                    sent += 1
                except SendRefused as exc:
                    refused[str(exc)] = refused.get(str(exc), 0) + 1
            summary = "; ".join(f"{n}: {reason}" for reason, n in refused.items())
            self.message_user(request, f"Sent to {sent} lead(s)." + (f" Not sent: {summary}." if refused else ""),
                              messages.SUCCESS if not refused else messages.WARNING)
            return None
        return self._action_form_page(
            request, queryset, form, action="send_text", title="Send a text to the selected leads", submit="Send",
            intro="Each text goes through the gate: opted-out numbers, leads without recorded consent and anyone "
                  "outside quiet hours in their own time zone are skipped, and you are told how many and why.")

    @action(description="Enrol selected leads in a sequence", permissions=["change"])
    def enroll_in_sequence(self, request, queryset):
        form = EnrollForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            sequence = form.cleaned_data["sequence"]
            enrolled, refused = 0, {}
            for lead in queryset.select_related(None):
                if enrollment_create(lead=lead, sequence=sequence, actor=request.user):
                    enrolled += 1
                else:
                    reason = enrollment_refusal(lead=lead, sequence=sequence) or "already enrolled"
                    refused[reason] = refused.get(reason, 0) + 1
            summary = "; ".join(f"{n} {reason}" for reason, n in refused.items())
            self.message_user(request, f"Enrolled {enrolled} lead(s) in {sequence}."
                              + (f" Not enrolled: {summary}." if refused else ""), messages.SUCCESS)
            return None
        return self._action_form_page(
            request, queryset, form, action="enroll_in_sequence", title="Enrol leads in a sequence", submit="Enrol",
            intro="Leads that opted out, replied, paid, are lost or hot are not enrolled, and you will be told how "
                  "many and why.")

    def _action_form_page(self, request, queryset, form, *, action: str, title: str, intro: str, submit: str):
        """The intermediate page of a bulk action that needs input, re-posting the selection."""
        context = {**self.admin_site.each_context(request), "title": title, "intro": intro, "submit": submit,
                   "form": form, "count": queryset.count(), "opts": self.opts, "action": action,
                   "action_checkbox_name": ACTION_CHECKBOX_NAME,
                   "selected": request.POST.getlist(ACTION_CHECKBOX_NAME)}
        return TemplateResponse(request, "admin/crm/lead/action_form.html", context)
