"""Cursor pagination, newest first: the cursor is the last id seen, so a page costs the same
however deep it is (an index range read, never an OFFSET)."""

from django.db.models import QuerySet

from crm.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def page_by_id(queryset: QuerySet, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Up to `limit` rows of `queryset` below `cursor` by id (descending), and the next cursor."""
    if cursor:
        if not cursor.isdigit() or len(cursor) > 18:
            raise ApiError(422, "invalid", "The cursor is not one this API gave out.", {"cursor": ["is not valid"]})
        queryset = queryset.filter(pk__lt=int(cursor))
    rows = list(queryset.order_by("-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].pk if hasattr(rows[-1], "pk") else rows[-1]["id"]) if more else None)
