"""Notifications, stored webhooks and the django-q2 task queue under Unfold styling."""

from django.contrib import admin, messages
from django.utils import timezone
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import action, display

from crm.admin.base import CRMModelAdmin, ReadOnlyAdminMixin
from crm.models import Notification, WebhookEvent


@admin.register(Notification)
class NotificationAdmin(CRMModelAdmin):
    list_display = ["created_at", "show_kind", "text", "lead", "recipient", "is_read"]
    list_select_related = ["lead", "recipient"]
    list_filter = [("kind", ChoicesDropdownFilter), ("created_at", RangeDateTimeFilter)]
    search_fields = ["text", "lead__business_name"]
    readonly_fields = ["recipient", "lead", "kind", "text", "created_at", "read_at"]
    actions = ["mark_read"]

    def has_add_permission(self, request):
        return False

    @display(description="Kind", label={
        Notification.Kind.HOT_LEAD: "danger", Notification.Kind.PAYMENT: "success",
        Notification.Kind.PAYMENT_FAILED: "danger", Notification.Kind.SEND_FAILED: "warning",
        Notification.Kind.REPLY: "info", Notification.Kind.NEEDS_HUMAN: "warning",
    })
    def show_kind(self, obj: Notification) -> str:
        return obj.kind

    @display(description="Read", boolean=True)
    def is_read(self, obj: Notification) -> bool:
        return obj.read_at is not None

    @action(description="Mark selected notifications as read", permissions=["change"])
    def mark_read(self, request, queryset):
        count = queryset.filter(read_at__isnull=True).update(read_at=timezone.now())
        self.message_user(request, f"{count} notification(s) marked as read.", messages.SUCCESS)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, CRMModelAdmin):
    list_display = ["received_at", "source", "event_type", "event_id", "processed_at", "attempts", "has_error"]
    list_filter = [("source", ChoicesDropdownFilter), ("received_at", RangeDateTimeFilter)]
    search_fields = ["=event_id", "event_type"]

    @display(description="Error", boolean=True)
    def has_error(self, obj: WebhookEvent) -> bool:
        return bool(obj.error)


# django-q2 registers plain admins; re-register them with Unfold's styling.
for model in (Schedule, Success, Failure, OrmQ):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(Schedule)
class ScheduleAdmin(q_admin.ScheduleAdmin, ModelAdmin):
    pass


@admin.register(Success)
class SuccessfulTaskAdmin(q_admin.TaskAdmin, ModelAdmin):
    pass


@admin.register(Failure)
class FailedTaskAdmin(q_admin.FailAdmin, ModelAdmin):
    pass


@admin.register(OrmQ)
class QueuedTaskAdmin(q_admin.QueueAdmin, ModelAdmin):
    pass
