"""Clients and money: subscriptions, transactions, commissions, upsells. Admins record a payment
made outside Stripe on a client, and approve and pay commissions in bulk; reps see only their
own commissions (crm.selectors.access) and none of these actions."""

from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminSelectWidget,
    UnfoldAdminSplitDateTimeWidget,
    UnfoldAdminTextInputWidget,
)

from crm.admin.base import CRMModelAdmin, ScopedTabularInline
from crm.admin.billing_portal import ClientPortalAdminMixin
from crm.models import Client, Commission, Subscription, Transaction, Upsell
from crm.models.base import format_cents
from crm.services.billing.commissions import commissions_approve, commissions_mark_paid
from crm.services.billing.payments import RECORDABLE_KINDS, payment_record


class AdminOnlyActionsMixin:
    """Money actions are for admins: a rep neither sees nor can post them."""

    def _admin_only(self, request) -> bool:
        return bool(getattr(request.user, "is_admin", False))


class RecordPaymentForm(forms.Form):
    amount = forms.CharField(label="Amount", help_text="In the client's currency, e.g. 99.00. A refund: the amount "
                             "given back, positive.", widget=UnfoldAdminTextInputWidget)
    kind = forms.ChoiceField(choices=[(k, Transaction.Kind(k).label) for k in RECORDABLE_KINDS],
                             initial=Transaction.Kind.SUBSCRIPTION, widget=UnfoldAdminSelectWidget)
    occurred_at = forms.SplitDateTimeField(label="Paid at", widget=UnfoldAdminSplitDateTimeWidget,
                                           initial=timezone.now)
    note = forms.CharField(required=False, max_length=255, widget=UnfoldAdminTextInputWidget)

    def clean_amount(self) -> int:
        try:
            cents = Decimal(self.cleaned_data["amount"].replace(",", "").strip()) * 100
        except InvalidOperation:
            raise ValidationError("Enter an amount such as 99.00.") from None
        if cents != cents.to_integral_value() or cents <= 0:
            raise ValidationError("Enter an amount above zero with at most two decimals.")
        return int(cents)


class MoneyDisplayMixin:
    @display(description="Amount", ordering="amount_cents")
    def amount(self, obj) -> str:
        return format_cents(obj.amount_cents, obj.currency)


class SubscriptionInline(ScopedTabularInline):
    model = Subscription
    fields = ["plan_name", "amount_cents", "currency", "interval", "status", "started_at", "canceled_at"]
    show_change_link = True


class TransactionInline(ScopedTabularInline):
    model = Transaction
    fields = ["occurred_at", "kind", "amount_cents", "currency", "status", "provider_id"]
    readonly_fields = fields
    ordering = ["-occurred_at"]
    can_delete = False
    per_page = 20

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Client)
class ClientAdmin(ClientPortalAdminMixin, AdminOnlyActionsMixin, CRMModelAdmin):
    list_display = ["name", "rep", "show_status", "churn_risk", "email", "phone", "created_at"]
    list_select_related = ["rep"]
    list_filter = [("status", ChoicesDropdownFilter), "churn_risk", ("rep", RelatedDropdownFilter)]
    search_fields = ["name", "email", "=phone", "=stripe_customer_id"]
    autocomplete_fields = ["lead", "rep"]
    readonly_fields = ["created_at"]
    inlines = [SubscriptionInline, TransactionInline]
    actions = ["record_payment"]

    @display(description="Status", ordering="status", label={
        Client.Status.ACTIVE: "success", Client.Status.CHURNED: "danger",
    })
    def show_status(self, obj: Client) -> str:
        return obj.status

    def has_record_payment_permission(self, request) -> bool:
        return self._admin_only(request)

    @action(description="Record a payment (made outside Stripe)", permissions=["record_payment"])
    def record_payment(self, request, queryset):
        if not self._admin_only(request):
            raise PermissionDenied
        clients = list(queryset[:2])
        if len(clients) != 1:
            self.message_user(request, "Select exactly one client to record a payment for.", messages.WARNING)
            return None
        client = clients[0]
        form = RecordPaymentForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                txn = payment_record(client_id=client.pk, amount_cents=data["amount"], kind=data["kind"],
                                     occurred_at=data["occurred_at"], actor=request.user, note=data["note"])
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                self.log_change(request, client, f"Recorded {txn}")
                self.message_user(request, f"Recorded {txn} for {client}.", messages.SUCCESS)
                return None
        context = {**self.admin_site.each_context(request), "title": f"Record a payment for {client}",
                   "form": form, "opts": self.opts, "action": "record_payment", "client": client,
                   "action_checkbox_name": ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/crm/client/record_payment.html", context)


@admin.register(Subscription)
class SubscriptionAdmin(MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["client", "plan_name", "amount", "interval", "status", "started_at", "current_period_end"]
    list_select_related = ["client"]
    list_filter = [("status", ChoicesDropdownFilter), ("started_at", RangeDateTimeFilter),
                   ("client__rep", RelatedDropdownFilter)]
    search_fields = ["client__name", "=stripe_subscription_id"]
    autocomplete_fields = ["client"]


@admin.register(Transaction)
class TransactionAdmin(MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["occurred_at", "client", "kind", "amount", "status", "provider_id"]
    list_select_related = ["client"]
    list_filter = [("kind", ChoicesDropdownFilter), ("status", ChoicesDropdownFilter),
                   ("occurred_at", RangeDateTimeFilter), ("client__rep", RelatedDropdownFilter)]
    search_fields = ["client__name", "=provider_id", "description"]
    autocomplete_fields = ["client", "subscription"]
    date_hierarchy = "occurred_at"


@admin.register(Commission)
class CommissionAdmin(AdminOnlyActionsMixin, MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["created_at", "rep", "transaction", "kind", "rate", "amount", "status"]
    list_select_related = ["rep", "transaction", "transaction__client"]
    list_filter = [("status", ChoicesDropdownFilter), ("rep", RelatedDropdownFilter),
                   ("created_at", RangeDateTimeFilter)]
    search_fields = ["rep__username", "transaction__client__name"]
    autocomplete_fields = ["rep", "transaction"]
    actions = ["approve", "mark_paid"]

    def get_list_filter(self, request):
        if request.user.is_rep:
            return [f for f in self.list_filter if not (isinstance(f, tuple) and f[0] == "rep")]
        return self.list_filter

    def has_approve_permission(self, request) -> bool:
        return self._admin_only(request)

    def has_mark_paid_permission(self, request) -> bool:
        return self._admin_only(request)

    def _moved(self, request, moved: int, selected: int, verb: str, skipped_why: str) -> None:
        skipped = selected - moved
        self.message_user(request, f"{moved} commission(s) {verb}." + (f" {skipped} skipped ({skipped_why})."
                                                                       if skipped else ""),
                          messages.SUCCESS if not skipped else messages.WARNING)

    # One UPDATE whatever the selection's size ("select all" included): no per-row work.
    @action(description="Approve selected pending commissions", permissions=["approve"])
    def approve(self, request, queryset):
        if not self._admin_only(request):
            raise PermissionDenied
        selected = queryset.count()
        self._moved(request, commissions_approve(commissions=queryset), selected, "approved", "not pending")

    @action(description="Mark selected approved commissions paid", permissions=["mark_paid"])
    def mark_paid(self, request, queryset):
        if not self._admin_only(request):
            raise PermissionDenied
        selected = queryset.count()
        self._moved(request, commissions_mark_paid(commissions=queryset), selected, "marked paid", "not approved")


@admin.register(Upsell)
class UpsellAdmin(MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["product", "client", "amount", "recurring", "status", "rep", "created_at"]
    list_select_related = ["client", "rep"]
    list_filter = [("status", ChoicesDropdownFilter), "recurring"]
    search_fields = ["product", "client__name"]
    autocomplete_fields = ["client", "rep"]
