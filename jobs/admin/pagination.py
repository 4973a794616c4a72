"""A paginator for the long admin lists (executions, audit events).

Page-number pagination needs a total, and on an unfiltered list that is a COUNT(*) of the
whole table: with millions of rows of history it is most of the page's time. Above
ESTIMATE_ABOVE rows, the unfiltered list takes PostgreSQL's own estimate (pg_class.reltuples,
kept by autovacuum) instead; a filtered list, and any list of a smaller table, is counted.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

ESTIMATE_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            estimate = table_estimate(self.object_list)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
        return super().count


def table_estimate(queryset) -> int | None:
    """The planner's row count of `queryset`'s table, or None before it has one."""
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    # -1 until the table is first vacuumed or analysed.
    return row[0] if row and row[0] >= 0 else None
