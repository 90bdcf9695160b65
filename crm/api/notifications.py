"""/api/v1/notifications: the token user's own notifications, and marking them read."""

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja import Field as SchemaField

from crm.api.auth import require_perm
from crm.api.errors import ERRORS, ApiError
from crm.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, page_by_id
from crm.api.schemas import MarkedOut, NotificationPage
from crm.models import Notification
from crm.services.notifications import notifications_mark_read

router = Router(tags=["notifications"])


class NotificationQuery(Schema):
    unread: bool = False
    cursor: str | None = SchemaField(None, max_length=20)
    limit: int = SchemaField(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.get("/notifications", response={200: NotificationPage, **ERRORS}, summary="Your notifications, newest first")
def notifications_list(request: HttpRequest, query: Query[NotificationQuery]):
    require_perm(request, "crm.view_notification")
    queryset = Notification.objects.filter(recipient=request.user)
    if query.unread:
        queryset = queryset.filter(read_at__isnull=True)
    rows, cursor = page_by_id(queryset, cursor=query.cursor, limit=query.limit)
    return {"items": rows, "next_cursor": cursor}


@router.post("/notifications/{notification_id}/read", response={200: MarkedOut, **ERRORS},
             summary="Mark one of your notifications read")
def notification_read(request: HttpRequest, notification_id: int):
    require_perm(request, "crm.view_notification")
    if not Notification.objects.filter(pk=notification_id, recipient=request.user).exists():
        raise ApiError(404, "not_found", f"No notification #{notification_id} of yours.")
    return {"marked": notifications_mark_read(user=request.user, ids=[notification_id])}


@router.post("/notifications/read", response={200: MarkedOut, **ERRORS}, summary="Mark all your notifications read")
def notifications_read_all(request: HttpRequest):
    require_perm(request, "crm.view_notification")
    return {"marked": notifications_mark_read(user=request.user)}
