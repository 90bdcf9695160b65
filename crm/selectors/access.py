"""Who may see which rows. The one place that says what a rep owns.

Reps see only leads assigned to them and what hangs off those leads. Any model not
listed here is invisible to a rep (deny by default), whatever URL they try.
"""

from django.db.models import Model, Q, QuerySet

from crm import models as m

# Path from each model to the user who owns the row, for reps.
REP_OWNER_PATHS: dict[type[Model], str] = {
    m.Lead: "assigned_rep",
    m.TimelineEvent: "lead__assigned_rep",
    m.Message: "lead__assigned_rep",
    m.Call: "lead__assigned_rep",
    m.PreviewEvent: "lead__assigned_rep",
    m.Enrollment: "lead__assigned_rep",
    m.Notification: "recipient",
    m.Commission: "rep",
    m.BulkSend: "created_by",
    m.User: "pk",
}
# Rows a rep may read when they own them or nobody does (shared ones): model -> owner field.
REP_OWN_OR_SHARED: dict[type[Model], str] = {m.SavedReply: "owner"}


def scope_queryset(queryset: QuerySet, user) -> QuerySet:
    """Rows of `queryset` that `user` may see: everything for admins, own rows for reps."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if not user.is_rep:
        return queryset
    shared = REP_OWN_OR_SHARED.get(queryset.model)
    if shared is not None:
        return queryset.filter(Q(**{shared: user.pk}) | Q(**{f"{shared}__isnull": True}))
    path = REP_OWNER_PATHS.get(queryset.model)
    if path is None:
        return queryset.none()
    return queryset.filter(**{path: user.pk})

