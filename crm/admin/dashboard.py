"""The Unfold dashboard callback: fills templates/admin/index.html from selectors."""

from django.conf import settings

from crm.selectors.dashboard import (
    dashboard_kpis,
    hot_lead_queue,
    month_start,
    rep_performance,
    unread_notifications,
)


def dashboard_callback(request, context: dict) -> dict:
    user = request.user
    context.update(
        kpis=dashboard_kpis(user=user),
        hot_leads=hot_lead_queue(user=user),
        notifications=unread_notifications(user=user),
        is_rep=user.is_rep,
    )
    if not user.is_rep:
        context["rep_rows"] = rep_performance(since=month_start())
    return context


def environment_callback(request) -> list[str] | None:
    if settings.DEBUG:
        return ["Development", "warning"]
    return None
