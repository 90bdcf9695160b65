"""Working a lead on its page: a Call button (the rep's phone rings first; a tel: link is
always there), outcome buttons with keyboard shortcuts, status and next action, and saved
replies for the reply box. Views check the lead is the viewer's and call one service."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse

from crm.models import Call, Lead
from crm.selectors.saved_replies import saved_replies_for
from crm.services.calls import FINAL, CallRefused, OutcomeInvalid, call_outcome_log, call_start, can_call
from crm.services.next_actions import HAND_SET_STATUSES, NextActionInvalid, lead_next_action_set

RECENT_CALLS = 5
# (outcome, button label, keyboard shortcut) in the order the buttons show.
OUTCOME_BUTTONS = [
    (Call.Outcome.CONNECTED, "Connected", "c"),
    (Call.Outcome.VOICEMAIL, "Voicemail", "v"),
    (Call.Outcome.NO_ANSWER, "No answer", "n"),
    (Call.Outcome.CALLBACK, "Callback at…", "b"),
    (Call.Outcome.NOT_INTERESTED, "Not interested", "x"),
    (Call.Outcome.SOLD, "Won", "w"),
]
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(choices=[(value, label) for value, label, _ in OUTCOME_BUTTONS])
    callback_at = forms.DateTimeField(required=False, widget=DATETIME_INPUT)
    notes = forms.CharField(required=False, max_length=2000)


class NextActionForm(forms.Form):
    status = forms.ChoiceField(choices=[(s, Lead.Status(s).label) for s in HAND_SET_STATUSES])
    next_action = forms.CharField(required=False, max_length=200)
    next_action_at = forms.DateTimeField(required=False, widget=DATETIME_INPUT)


def _first_error(form: forms.Form) -> str:
    return next(f"{name.replace('_', ' ')}: {errors[0]}" for name, errors in form.errors.items())


class LeadWorkAdminMixin:
    # The work panel, then the text thread it includes (crm/admin/conversation.py).
    change_form_outer_before_template = "admin/crm/lead/work.html"

    def get_urls(self):
        return [
            path("<int:object_id>/call/", self.admin_site.admin_view(self.call_view), name="crm_lead_call"),
            path("<int:object_id>/outcome/", self.admin_site.admin_view(self.outcome_view), name="crm_lead_outcome"),
            path("<int:object_id>/next-action/", self.admin_site.admin_view(self.next_action_view),
                 name="crm_lead_next_action"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = self.get_object(request, object_id)
        if lead is not None:
            extra_context = {**(extra_context or {}), **self.work_context(request, lead)}
        return super().change_view(request, object_id, form_url, extra_context)

    def work_context(self, request, lead: Lead) -> dict:
        calls = list(Call.objects.filter(lead=lead).select_related("rep").order_by("-created_at", "-id")[:RECENT_CALLS])
        decision = can_call(lead)
        may_work = self._may_work(request, lead)
        return {
            "work_calls": calls,
            "work_call_active": bool(calls) and calls[0].status not in FINAL,
            "work_call_allowed": bool(decision) and may_work,
            "work_call_refusal": decision.reason,
            "work_call_refusal_code": decision.code,
            "work_may_log": may_work,
            "work_tel": "tel:" + lead.phone,
            "work_outcomes": OUTCOME_BUTTONS,
            "work_statuses": [(s, Lead.Status(s).label) for s in HAND_SET_STATUSES],
            "work_urls": {name: reverse(f"admin:crm_lead_{name}", args=[lead.pk])
                          for name in ("call", "outcome", "next_action")},
            "saved_replies": saved_replies_for(user=request.user, lead=lead),
        }

    def _may_work(self, request, lead) -> bool:
        return self.has_change_permission(request, lead) and request.user.has_perm("crm.add_call")

    def _lead_for_post(self, request, object_id) -> Lead | None:
        """The viewer's lead for a POST (None: send them back to the page), else 404 / 403."""
        if request.method != "POST":
            return None
        lead = self.get_object(request, str(object_id))
        if lead is None:
            raise Http404("No such lead")
        if not self._may_work(request, lead):
            raise PermissionDenied
        return lead

    def _back(self, object_id, anchor: str = "lead-work"):
        return HttpResponseRedirect(reverse("admin:crm_lead_change", args=[object_id]) + "#" + anchor)

    def call_view(self, request, object_id):
        """Start a call: the rep's own phone rings, then the lead is dialled (crm.services.calls)."""
        lead = self._lead_for_post(request, object_id)
        if lead is None:
            return self._back(object_id)
        try:
            call = call_start(lead=lead, rep=request.user)
        except CallRefused as exc:
            self.message_user(request, f"Not called: {exc.decision.reason}.", messages.ERROR)
        else:
            self.message_user(request, "Calling: your phone rings first; answer it and the lead is dialled"
                              f" from {call.from_number or 'the company number'}.", messages.SUCCESS)
            self.log_change(request, lead, f"Started a call ({call.pk})")
        return self._back(object_id)

    def outcome_view(self, request, object_id):
        """Log how the call went, with the lead's status and next action."""
        lead = self._lead_for_post(request, object_id)
        if lead is None:
            return self._back(object_id)
        form = OutcomeForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Outcome not logged: {_first_error(form)}.", messages.ERROR)
            return self._back(object_id)
        data = form.cleaned_data
        try:
            call = call_outcome_log(lead=lead, rep=request.user, outcome=data["outcome"],
                                    callback_at=data["callback_at"], notes=data["notes"])
        except (OutcomeInvalid, NextActionInvalid) as exc:
            self.message_user(request, f"Outcome not logged: {exc}.", messages.ERROR)
            return self._back(object_id)
        self.message_user(request, f"Logged: {call.get_outcome_display()}.", messages.SUCCESS)
        self.log_change(request, lead, f"Logged call outcome {call.outcome} ({call.pk})")
        return self._back(object_id)

    def next_action_view(self, request, object_id):
        """Change the status and plan the next action; the queue leaves the lead out until then."""
        lead = self._lead_for_post(request, object_id)
        if lead is None:
            return self._back(object_id)
        form = NextActionForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Not saved: {_first_error(form)}.", messages.ERROR)
            return self._back(object_id)
        data = form.cleaned_data
        try:
            lead_next_action_set(lead=lead, actor=request.user, status=data["status"],
                                 next_action=data["next_action"], next_action_at=data["next_action_at"])
        except (NextActionInvalid, PermissionDenied) as exc:
            self.message_user(request, f"Not saved: {exc}.", messages.ERROR)
            return self._back(object_id)
        self.message_user(request, "Status and next action saved.", messages.SUCCESS)
        self.log_change(request, lead, "Set status and next action")
        return self._back(object_id)
