"""Reads about texts: a bulk send's progress."""

from django.db.models import Count

from crm.models import BulkSend, Message


def bulk_send_progress(*, bulk_send: BulkSend) -> dict[str, int]:
    """Status -> number of the bulk send's texts, in the order a text moves (one query)."""
    counts = dict(Message.objects.filter(bulk_send=bulk_send).order_by().values("status")
                  .annotate(n=Count("pk")).values_list("status", "n"))
    return {status: counts[status] for status in Message.Status.values if counts.get(status)}
