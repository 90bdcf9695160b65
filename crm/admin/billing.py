"""Clients and money: subscriptions, transactions, commissions, upsells."""

from django.contrib import admin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter, RelatedDropdownFilter
from unfold.decorators import display

from crm.admin.base import CRMModelAdmin, ScopedTabularInline
from crm.models import Client, Commission, Subscription, Transaction, Upsell
from crm.models.base import format_cents


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
class ClientAdmin(CRMModelAdmin):
    list_display = ["name", "rep", "show_status", "churn_risk", "email", "phone", "created_at"]
    list_select_related = ["rep"]
    list_filter = [("status", ChoicesDropdownFilter), "churn_risk", ("rep", RelatedDropdownFilter)]
    search_fields = ["name", "email", "=phone", "=stripe_customer_id"]
    autocomplete_fields = ["lead", "rep"]
    readonly_fields = ["created_at"]
    inlines = [SubscriptionInline, TransactionInline]

    @display(description="Status", ordering="status", label={
        Client.Status.ACTIVE: "success", Client.Status.CHURNED: "danger",
    })
    def show_status(self, obj: Client) -> str:
        return obj.status


@admin.register(Subscription)
class SubscriptionAdmin(MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["client", "plan_name", "amount", "interval", "status", "started_at", "current_period_end"]
    list_select_related = ["client"]
    list_filter = [("status", ChoicesDropdownFilter), ("started_at", RangeDateTimeFilter)]
    search_fields = ["client__name", "=stripe_subscription_id"]
    autocomplete_fields = ["client"]


@admin.register(Transaction)
class TransactionAdmin(MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["occurred_at", "client", "kind", "amount", "status", "provider_id"]
    list_select_related = ["client"]
    list_filter = [("kind", ChoicesDropdownFilter), ("status", ChoicesDropdownFilter),
                   ("occurred_at", RangeDateTimeFilter)]
    search_fields = ["client__name", "=provider_id", "description"]
    autocomplete_fields = ["client", "subscription"]
    date_hierarchy = "occurred_at"


@admin.register(Commission)
class CommissionAdmin(MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["created_at", "rep", "transaction", "rate", "amount", "status"]
    list_select_related = ["rep", "transaction", "transaction__client"]
    list_filter = [("status", ChoicesDropdownFilter), ("rep", RelatedDropdownFilter),
                   ("created_at", RangeDateTimeFilter)]
    search_fields = ["rep__username", "transaction__client__name"]
    autocomplete_fields = ["rep", "transaction"]

    def get_list_filter(self, request):
        if request.user.is_rep:
            return [f for f in self.list_filter if not (isinstance(f, tuple) and f[0] == "rep")]
        return self.list_filter


@admin.register(Upsell)
class UpsellAdmin(MoneyDisplayMixin, CRMModelAdmin):
    list_display = ["product", "client", "amount", "recurring", "status", "rep", "created_at"]
    list_select_related = ["client", "rep"]
    list_filter = [("status", ChoicesDropdownFilter), "recurring"]
    search_fields = ["product", "client__name"]
    autocomplete_fields = ["client", "rep"]
