"""Who hears about a lead, and the one writer of staff notifications."""

from django.db.models import Q
from django.utils import timezone

from crm.models import Lead, Notification, User


def notification_recipients(lead: Lead) -> list[User]:
    """The lead's rep when it has an active one, else every active admin."""
    if lead.assigned_rep_id and lead.assigned_rep.is_active:
        return [lead.assigned_rep]
    return admins_active()


def admins_active() -> list[User]:
    return list(User.objects.filter(is_active=True).filter(Q(is_superuser=True) | Q(groups__name="ADMIN")).distinct())


def notify(*, lead: Lead | None, kind: str, text: str, recipients: list[User] | None = None) -> int:
    """One notification per recipient (default: `notification_recipients(lead)`); returns how many."""
    if recipients is None:
        recipients = notification_recipients(lead) if lead is not None else admins_active()
    Notification.objects.bulk_create([Notification(recipient=user, lead=lead, kind=kind, text=text[:500])
                                      for user in recipients])
    return len(recipients)


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Mark `user`'s own unread notifications read (those of `ids`, or all); returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
