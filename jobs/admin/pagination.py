"""A paginator for the long admin lists (executions, audit events).

Page-number pagination needs a total, and on an unfiltered list that is a COUNT(*) of the
whole table: with millions of rows of history it is most of the page's time. Above
ESTIMATE_ABOVE rows, the unfiltered list takes PostgreSQL's own estimate (pg_class.reltuples,
kept by autovacuum; for a partitioned table, jobs.partitions, the sum of its partitions',
as autovacuum never analyses the parent) instead; a filtered list, and any list of a smaller
table, is counted.
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
    """The planner's row count of `queryset`'s table (with its partitions), or None before
    it has one."""
    connection = connections[queryset.db]
    with connection.cursor() as cursor:
        # The tables that hold rows (a partitioned parent's own figure is only as fresh as
        # its last manual ANALYZE); reltuples is -1 until a table is first vacuumed or
        # analysed: those count for none.
        cursor.execute(
            "SELECT sum(reltuples) FILTER (WHERE reltuples >= 0)::bigint FROM pg_class "
            "WHERE relkind = 'r' AND (oid = to_regclass(%s) OR oid IN "
            "(SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(%s)))",
            [connection.ops.quote_name(queryset.model._meta.db_table)] * 2,
        )
        row = cursor.fetchone()
    return row[0] if row else None
