"""A changelist paginator that never counts a million rows per page view.

Up to EXACT_COUNT_LIMIT rows the count is exact (a capped count stops early); beyond
it, PostgreSQL's planner estimate is used (catalogue statistics, no table scan).
"""

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_COUNT_LIMIT = 10_000


def estimated_count(queryset) -> int | None:
    """The planner's row estimate for `queryset`, or None off PostgreSQL."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        capped = queryset.order_by()[: EXACT_COUNT_LIMIT + 1].count()
        if capped <= EXACT_COUNT_LIMIT:
            return capped
        estimate = estimated_count(queryset)
        if estimate is None:
            return queryset.count()
        self.is_estimate = True
        return max(estimate, capped)
