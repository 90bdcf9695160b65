"""The lead page's two-way text thread with a reply box through the gate, and bulk enrolment."""

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from unfold.decorators import action
from django.utils.html import format_html
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldBooleanSwitchWidget

from crm.models import Message, Sequence
from crm.services.enrollments import enrollments_create
from crm.services.messaging.bulk_send import sms_bulk_send
from crm.services.messaging.gate import can_send
from crm.services.messaging.sending import SendRefused, sms_send
from crm.services.messaging.templates import sms_segments

THREAD_LIMIT = 100


class BulkTextForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "class": "border border-base-200 rounded-default px-3 py-2 w-full"}),
                           max_length=1600, help_text="Merge fields such as {business_name} and {preview_url} work here. "
                           "Queued for each lead the gate allows and sent by the worker at its number's pace.")


class EnrollForm(forms.Form):
    sequence = forms.ModelChoiceField(queryset=Sequence.objects.filter(is_active=True),
                                      widget=UnfoldAdminSelectWidget, empty_label=None)
    restart = forms.BooleanField(required=False, widget=UnfoldBooleanSwitchWidget,
                                 label="Start again from step 1",
                                 help_text="Off: a lead that already received some steps continues after the last one "
                                           "it got. On: those steps are sent again.")


def _counted(refused: dict[str, int]) -> str:
    return "; ".join(f"{n} {reason}" for reason, n in refused.items())


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
        page = {"action": "send_text", "title": "Send a text to the selected leads", "submit": "Queue the texts",
                "intro": "Each text goes through the gate: opted-out numbers, leads without recorded consent and "
                         "anyone outside quiet hours in their own time zone are skipped, and you are told how many "
                         "and why. Leads that got this same text in the last 24 hours are skipped too."}
        if not form.is_valid():
            return self._action_form_page(request, queryset, form, **page)
        leads = queryset.select_related(None)
        try:
            plan = sms_bulk_send(leads=leads, body=form.cleaned_data["body"], actor=request.user,
                                 dry_run="confirm" not in request.POST)
        except SendRefused as exc:
            form.add_error("body", str(exc))
            return self._action_form_page(request, queryset, form, **page)
        if "confirm" not in request.POST:
            summary = [f"{plan.queued} will be queued and sent at their numbers' pace."]
            if plan.duplicates:
                summary.append(f"{plan.duplicates} already got this text in the last 24 hours and will be skipped.")
            if plan.refused:
                summary.append(f"Not sent: {_counted(plan.refused)}.")
            return self._action_form_page(request, queryset, form, summary=summary, confirming=True, **page)
        follow = reverse("admin:crm_bulksend_change", args=[plan.bulk_send.pk])
        self.message_user(request, format_html(
            "{} queued{}{}. <a class='underline' href='{}'>Follow progress</a>.", plan.queued,
            f"; {plan.duplicates} skipped (already got this text in the last 24 hours)" if plan.duplicates else "",
            f"; not sent: {_counted(plan.refused)}" if plan.refused else "", follow),
            messages.SUCCESS if not plan.refused else messages.WARNING)
        return None

    @action(description="Enrol selected leads in a sequence", permissions=["change"])
    def enroll_in_sequence(self, request, queryset):
        form = EnrollForm(request.POST if "apply" in request.POST else None)
        page = {"action": "enroll_in_sequence", "title": "Enrol leads in a sequence", "submit": "Enrol",
                "intro": "Leads that opted out, replied, paid, are lost or hot are not enrolled, and you will be told "
                         "how many and why."}
        if not form.is_valid():
            return self._action_form_page(request, queryset, form, **page)
        sequence, restart = form.cleaned_data["sequence"], form.cleaned_data["restart"]
        if restart and not request.user.is_admin:
            raise PermissionDenied
        leads = queryset.select_related(None)
        result = enrollments_create(leads=leads, sequence=sequence, actor=request.user, restart=restart,
                                    dry_run="confirm" not in request.POST)
        if "confirm" not in request.POST:
            summary = [f"{result.enrolled} will be enrolled in {sequence}."]
            if result.continuing:
                summary.append(f"{result.continuing} already received some of its steps and continue after the last "
                               "one they got (nothing is sent twice).")
            if result.resent:
                summary.append(f"{result.resent} already received some of its steps and start again from step 1: "
                               "those steps will be sent to them again.")
            if result.refused:
                summary.append(f"Not enrolled: {_counted(result.refused)}.")
            return self._action_form_page(request, queryset, form, summary=summary, confirming=True, **page)
        self.message_user(request, f"Enrolled {result.enrolled} lead(s) in {sequence}."
                          + (f" Not enrolled: {_counted(result.refused)}." if result.refused else ""), messages.SUCCESS)
        return None

    def _action_form_page(self, request, queryset, form, *, action: str, title: str, intro: str, submit: str,
                          summary: list[str] | None = None, confirming: bool = False):
        """The intermediate page of a bulk action: its input, then what it will do, re-posting the selection."""
        context = {**self.admin_site.each_context(request), "title": title, "intro": intro, "submit": submit,
                   "form": form, "count": queryset.count(), "opts": self.opts, "action": action,
                   "action_checkbox_name": ACTION_CHECKBOX_NAME, "summary": summary, "confirming": confirming,
                   "select_across": request.POST.get("select_across") == "1",
                   "selected": request.POST.getlist(ACTION_CHECKBOX_NAME)}
        return TemplateResponse(request, "admin/crm/lead/action_form.html", context)
