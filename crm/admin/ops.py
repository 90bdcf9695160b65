"""Notifications, stored webhooks and the django-q2 task queue under Unfold styling."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import action, display

from crm.admin.base import CRMModelAdmin, ReadOnlyAdminMixin
from crm.models import Notification, WebhookEvent
from crm.services.webhooks import webhook_event_process


@admin.register(Notification)
class NotificationAdmin(CRMModelAdmin):
    list_display = ["created_at", "show_kind", "open_link", "lead", "recipient", "is_read"]
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

    @display(description="Notification")
    def open_link(self, obj: Notification) -> str:
        url = reverse("admin:crm_notification_open", args=[obj.pk])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.text)

    def get_urls(self):
        return [
            path("unread/", self.admin_site.admin_view(self.unread_view), name="crm_notification_unread"),
            path("<int:object_id>/open/", self.admin_site.admin_view(self.open_view), name="crm_notification_open"),
        ] + super().get_urls()

    def unread_view(self, request):
        """The viewer's own unread notifications, polled by the admin's notification badge."""
        if not self.has_view_permission(request):
            return JsonResponse({"count": 0, "items": []}, status=403)
        unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True)
        items = [
            {"id": n.pk, "kind": n.kind, "text": n.text, "created": n.created_at.isoformat(),
             "open_url": reverse("admin:crm_notification_open", args=[n.pk])}
            for n in unread.order_by("-created_at")[:5]
        ]
        response = JsonResponse({"count": unread.count(), "items": items})
        response["Cache-Control"] = "no-store"
        return response

    def open_view(self, request, object_id):
        """Open a notification's lead; the viewer's own notification is marked read on the way."""
        notification = self.get_queryset(request).filter(pk=object_id).first()
        if notification is None:
            raise Http404("No such notification")
        if notification.recipient_id == request.user.pk and notification.read_at is None:
            notification.read_at = timezone.now()
            notification.save(update_fields=["read_at"])
        if notification.lead_id:
            return HttpResponseRedirect(reverse("admin:crm_lead_change", args=[notification.lead_id]))
        return HttpResponseRedirect(reverse("admin:crm_notification_changelist"))

    @action(description="Mark selected notifications as read", permissions=["change"])
    def mark_read(self, request, queryset):
        count = queryset.filter(read_at__isnull=True).update(read_at=timezone.now())
        self.message_user(request, f"{count} notification(s) marked as read.", messages.SUCCESS)


class ProcessedFilter(admin.SimpleListFilter):
    title = "processed"
    parameter_name = "processed"

    def lookups(self, request, model_admin):
        return [("no", "Not processed (failed or pending)"), ("flagged", "Retries ran out (replay by hand)"),
                ("yes", "Processed")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(processed_at__isnull=True)
        if self.value() == "flagged":
            return queryset.filter(processed_at__isnull=True, flagged_at__isnull=False)
        if self.value() == "yes":
            return queryset.filter(processed_at__isnull=False)
        return queryset


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdminMixin, CRMModelAdmin):
    list_display = ["received_at", "source", "event_type", "event_id", "processed_at", "attempts", "has_error",
                    "next_attempt_at", "flagged_at"]
    list_filter = [("source", ChoicesDropdownFilter), ProcessedFilter, ("received_at", RangeDateTimeFilter)]
    search_fields = ["=event_id", "event_type"]
    actions = ["process_again"]

    @action(description="Process selected unprocessed events again", permissions=["view"])
    def process_again(self, request, queryset):
        if not request.user.is_admin:
            raise PermissionDenied
        done = failed = 0
        for event in queryset.filter(processed_at__isnull=True):
            ok, _ = webhook_event_process(event=event)
            done, failed = done + ok, failed + (not ok)
            self.log_change(request, event, "Processed again" if ok else "Processing failed again")
        self.message_user(request, f"{done} event(s) processed; {failed} failed again (see their error).",
                          messages.SUCCESS if not failed else messages.WARNING)

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
