"""The ADMIN and REP groups and their permissions, kept right after every migrate (and every
flush, which empties them): an admin may do everything in these apps, a rep what this map says
(row by row, crm/selectors/access.py decides which of those rows are theirs)."""

from django.contrib.auth.models import Group, Permission

from crm.models.team import ROLE_ADMIN, ROLE_REP

ADMIN_APPS = ["crm", "auth", "django_q", "admin"]
REP_PERMISSIONS = {
    "lead": ["view", "change"],
    "timelineevent": ["view", "add"],
    "message": ["view", "add"],
    "call": ["view", "add", "change"],
    "previewevent": ["view"],
    "notification": ["view", "change"],
    "commission": ["view"],
    "bulksend": ["view"],
    "savedreply": ["view", "add", "change", "delete"],  # their own; shared ones are read-only
}


def roles_sync() -> None:
    """Create both groups if missing and give each exactly its permissions (idempotent)."""
    admin, _ = Group.objects.get_or_create(name=ROLE_ADMIN)
    admin.permissions.set(Permission.objects.filter(content_type__app_label__in=ADMIN_APPS))
    rep, _ = Group.objects.get_or_create(name=ROLE_REP)
    codenames = [f"{action}_{model}" for model, actions in REP_PERMISSIONS.items() for action in actions]
    rep.permissions.set(Permission.objects.filter(content_type__app_label="crm", codename__in=codenames))


def roles_sync_after_migrate(sender, **kwargs) -> None:
    """post_migrate receiver: runs after each app's permissions exist (auth's receiver comes first)."""
    roles_sync()
