"""Cursor pagination, newest first: the cursor names the last row seen, so a page costs the same
however deep it is (an index range read, never an OFFSET)."""

import re
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet

from crm.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR_MAX_LENGTH = 36  # "<microseconds>.<id>": 17 + 1 + 18 digits at most
# ASCII digits only (str.isdigit() also takes "²", which int() refuses); bounded so that the
# instant stays within datetime's range and the id within a bigint.
ID_CURSOR = re.compile(r"[0-9]{1,18}")
CREATED_CURSOR = re.compile(r"([0-9]{1,17})\.([0-9]{1,18})")


def _invalid_cursor() -> ApiError:
    return ApiError(422, "invalid", "The cursor is not one this API gave out.", {"cursor": ["is not valid"]})


def page_by_id(queryset: QuerySet, *, cursor: str | None, limit: int) -> tuple[list, str | None]:
    """Up to `limit` rows of `queryset` below `cursor` by id (descending), and the next cursor."""
    if cursor:
        if not ID_CURSOR.fullmatch(cursor):
            raise _invalid_cursor()
        queryset = queryset.filter(pk__lt=int(cursor))
    rows = list(queryset.order_by("-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (str(rows[-1].pk if hasattr(rows[-1], "pk") else rows[-1]["id"]) if more else None)


def created_cursor(row: dict) -> str:
    """The cursor for the rows after `row` (with id and created_at) in page_by_created's order."""
    return f"{(row['created_at'] - EPOCH) // timedelta(microseconds=1)}.{row['id']}"


def _created_position(cursor: str) -> tuple[datetime, int]:
    match = CREATED_CURSOR.fullmatch(cursor)
    if match is None:
        raise _invalid_cursor()
    return EPOCH + timedelta(microseconds=int(match[1])), int(match[2])


def page_by_created(values: QuerySet, *, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """Up to `limit` rows of `values` (a .values() query with id and created_at) after `cursor`,
    newest first by (created_at, id): the order of the indexes that start with the rep
    (lead_rep_created) or with created_at (lead_created), so a rep's page and an admin's are
    each one index range, wherever in the table the rows lie."""
    if cursor:
        at, pk = _created_position(cursor)
        # The first condition bounds the index range; the second drops rows of the same instant
        # already seen.
        values = values.filter(created_at__lte=at).filter(Q(created_at__lt=at) | Q(pk__lt=pk))
    rows = list(values.order_by("-created_at", "-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (created_cursor(rows[-1]) if more else None)
