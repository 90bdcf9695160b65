"""The Lead admin's "Assign to" action (admins only): the selected leads go to one rep, to
nobody, or (those without a rep) round-robin among the available reps. Writes through
crm.services.leads.lead_bulk_assign and crm.services.assignment.leads_round_robin; each
reassignment leaves an ASSIGNED timeline event with from, to and who."""

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from unfold.decorators import action

from crm.models import User
from crm.models.team import ROLE_REP
from crm.services.assignment import leads_round_robin
from crm.services.leads import lead_bulk_assign

ROUND_ROBIN = "round_robin"
NOBODY = "nobody"
BULK_ASSIGN_LIMIT = 10_000  # leads per action: each gets a timeline event in the request


class AssignForm(forms.Form):
    rep = forms.ChoiceField(label="Assign to")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        reps = User.objects.filter(groups__name=ROLE_REP, is_active=True).order_by("username")
        self.fields["rep"].choices = [
            ("", "---------"), (ROUND_ROBIN, "Round-robin among available reps (leads without a rep)"),
            (NOBODY, "Nobody (unassign)"),
            *[(str(rep.pk), rep.get_full_name() or rep.username) for rep in reps],
        ]

    def chosen_rep(self) -> User | None:
        value = self.cleaned_data["rep"]
        return None if value in (ROUND_ROBIN, NOBODY) else User.objects.get(pk=int(value))


class LeadAssignAdminMixin:
    def get_actions(self, request):
        actions = super().get_actions(request)
        if getattr(request.user, "is_admin", False):
            actions["assign_to"] = self.get_action("assign_to")
        return actions

    @action(description="Assign selected leads to a rep")
    def assign_to(self, request, queryset):
        if not getattr(request.user, "is_admin", False):
            raise PermissionDenied
        form = AssignForm(request.POST if "apply" in request.POST else None)
        leads = queryset.select_related(None)
        if not form.is_valid():
            return self._assign_page(request, queryset, form)
        selected = leads.count()
        if selected > BULK_ASSIGN_LIMIT:
            self.message_user(request, f"Select at most {BULK_ASSIGN_LIMIT:,} leads to assign at once.", messages.WARNING)
            return None
        if form.cleaned_data["rep"] == ROUND_ROBIN:
            assigned = leads_round_robin(leads=leads, actor=request.user, via="round-robin (bulk action)")
            self.message_user(request, f"{assigned} lead(s) assigned round-robin; {selected - assigned} already had a "
                                       "rep or no rep is available.", messages.SUCCESS if assigned else messages.WARNING)
            return None
        rep = form.chosen_rep()
        changed = lead_bulk_assign(leads=leads, rep=rep, actor=request.user)
        if changed:
            LogEntry.objects.log_actions(user_id=request.user.pk, queryset=changed, action_flag=CHANGE,
                                         change_message=f"Assigned to {rep.get_username() if rep else 'nobody'}")
        who = (rep.get_full_name() or rep.username) if rep else "nobody"
        self.message_user(request, f"{len(changed)} lead(s) assigned to {who}"
                          + (f"; {selected - len(changed)} already were." if selected > len(changed) else "."),
                          messages.SUCCESS)
        return None

    def _assign_page(self, request, queryset, form):
        context = {**self.admin_site.each_context(request), "title": "Assign the selected leads",
                   "intro": "Each lead's timeline records the change: from whom, to whom and who did it.",
                   "submit": "Assign", "form": form, "count": queryset.count(), "opts": self.opts,
                   "action": "assign_to", "action_checkbox_name": ACTION_CHECKBOX_NAME, "summary": None,
                   "confirming": False, "select_across": request.POST.get("select_across") == "1",
                   "selected": request.POST.getlist(ACTION_CHECKBOX_NAME)}
        return TemplateResponse(request, "admin/crm/lead/action_form.html", context)
