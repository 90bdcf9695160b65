"""The Lead admin's "Mark won": a lead who paid outside Stripe becomes a client with a
subscription and a setup-fee payment, through the same checkout service Stripe's webhook uses
(crm.services.billing.payments.lead_mark_won). Admins only."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from unfold.decorators import action

from crm.models import Lead
from crm.services.billing.payments import lead_mark_won

MARK_WON_LIMIT = 100  # leads per action: each one is a checkout with its payment and notices


class LeadBillingAdminMixin:
    def get_actions(self, request, *args, **kwargs):
        actions = super().get_actions(request, *args, **kwargs)
        if getattr(request.user, "is_admin", False):
            actions["mark_won"] = self.get_action("mark_won")
        return actions

    @action(description="Mark won (paid outside Stripe): create the client and subscription")
    def mark_won(self, request, queryset):
        if not getattr(request.user, "is_admin", False):
            raise PermissionDenied
        leads = list(queryset.select_related(None).exclude(status=Lead.Status.PAID)[:MARK_WON_LIMIT + 1])
        if len(leads) > MARK_WON_LIMIT:
            self.message_user(request, f"Select at most {MARK_WON_LIMIT} leads to mark won at once.", messages.WARNING)
            return
        with transaction.atomic():
            clients = [lead_mark_won(lead=lead, actor=request.user) for lead in leads]
        for lead in leads:
            self.log_change(request, lead, "Marked won (paid outside Stripe)")
        skipped = queryset.filter(status=Lead.Status.PAID).count()
        self.message_user(request, f"{len(clients)} lead(s) marked won: client, subscription and setup fee recorded."
                          + (f" {skipped} already paid, skipped." if skipped else ""), messages.SUCCESS)
