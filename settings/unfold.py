"""Unfold admin: branding, the sidebar (organised like the product) and the dashboard."""

from django.templatetags.static import static
from django.urls import reverse_lazy


def _can(*perms: str):
    """Sidebar permission callback: the item shows when the user has any of `perms`."""

    def check(request) -> bool:
        return any(request.user.has_perm(p) for p in perms)

    return check


def _item(title: str, icon: str, model: str, app: str = "crm") -> dict:
    return {
        "title": title,
        "icon": icon,
        "link": reverse_lazy(f"admin:{app}_{model}_changelist"),
        "permission": _can(f"{app}.view_{model}"),
    }


UNFOLD = {
    "SITE_TITLE": "Outreach CRM",
    "SITE_HEADER": "Outreach CRM",
    "SITE_SUBHEADER": "Websites for local businesses",
    "SITE_SYMBOL": "campaign",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "crm.admin.dashboard.dashboard_callback",
    "ENVIRONMENT": "crm.admin.dashboard.environment_callback",
    # The live unread-notification badge and toasts (polls the notifications' unread endpoint).
    "SCRIPTS": [lambda request: static("crm/notifications.js")],
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": [
            {
                "title": "Dashboard",
                "items": [
                    {"title": "My queue", "icon": "checklist", "link": reverse_lazy("crm_my_queue"),
                     "permission": "crm.admin.queue.can_view_queue"},
                    {"title": "Dashboard", "icon": "dashboard", "link": reverse_lazy("admin:index")},
                ],
            },
            {
                "title": "Leads",
                "items": [
                    _item("Leads", "storefront", "lead"),
                    _item("Timeline", "timeline", "timelineevent"),
                    _item("Preview activity", "visibility", "previewevent"),
                    _item("Calls", "call", "call"),
                ],
            },
            {
                "title": "Messages",
                "items": [
                    _item("Messages", "sms", "message"),
                    _item("Notifications", "notifications", "notification"),
                    _item("Saved replies", "quickreply", "savedreply"),
                ],
            },
            {
                "title": "Clients",
                "items": [
                    _item("Clients", "handshake", "client"),
                    _item("Subscriptions", "autorenew", "subscription"),
                    _item("Upsells", "trending_up", "upsell"),
                ],
            },
            {
                "title": "Revenue",
                "items": [
                    {"title": "Revenue", "icon": "monitoring", "link": reverse_lazy("crm_revenue"),
                     "permission": "crm.admin.revenue.can_view_revenue"},
                    {"title": "My earnings", "icon": "savings", "link": reverse_lazy("crm_earnings"),
                     "permission": "crm.admin.revenue.can_view_earnings"},
                    _item("Transactions", "payments", "transaction"),
                    _item("Commissions", "percent", "commission"),
                ],
            },
            {
                "title": "Team",
                "items": [
                    _item("Users", "person", "user"),
                    _item("Roles", "group", "group", app="auth"),
                    _item("Targets", "flag", "target"),
                ],
            },
            {
                "title": "Sequences",
                "items": [
                    _item("Sequences", "schedule_send", "sequence"),
                    _item("Templates", "article", "messagetemplate"),
                    _item("Enrollments", "playlist_add_check", "enrollment"),
                ],
            },
            {
                "title": "Imports",
                "items": [_item("Import batches", "upload_file", "importbatch")],
            },
            {
                "title": "Settings",
                "items": [_item("Company settings", "settings", "companysettings")],
            },
            {
                "title": "System",
                "items": [
                    {"title": "Health", "icon": "health_and_safety", "link": reverse_lazy("crm_health"),
                     "permission": "crm.admin.health.can_view_health"},
                    _item("API tokens", "key", "apitoken"),
                    _item("Webhook events", "webhook", "webhookevent"),
                    _item("Queued tasks", "pending", "ormq", app="django_q"),
                    _item("Successful tasks", "task_alt", "success", app="django_q"),
                    _item("Failed tasks", "error", "failure", app="django_q"),
                    _item("Schedules", "event_repeat", "schedule", app="django_q"),
                    {"title": "Login lockouts", "icon": "lock_person",
                     "link": reverse_lazy("admin:axes_accessattempt_changelist"),
                     "permission": "crm.admin.security.can_manage_lockouts"},
                    {"title": "Failed sign-ins", "icon": "no_accounts",
                     "link": reverse_lazy("admin:axes_accessfailurelog_changelist"),
                     "permission": "crm.admin.security.can_manage_lockouts"},
                ],
            },
        ],
    },
}
