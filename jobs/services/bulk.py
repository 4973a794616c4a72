"""Acting on every job or execution a filter matches, not just one page of them.

The rows are taken in batches by primary key, each changed through its own service call (its
own short transaction and audit event, as if an operator had acted on it alone), so no
request holds locks on thousands of rows. Rows are visited up to the newest key when the
work began: for executions (sequential ids) the retries it queues are not visited again. One
the service refuses (its state, a quota) is passed over, and the others still go through.
"""

from collections.abc import Callable

from django.db.models import QuerySet

from ..exceptions import SchedulerError

BATCH_SIZE = 200


def apply_matching(
    rows: QuerySet, service: Callable, *, keyword: str, related: tuple[str, ...] = ()
) -> int:
    """Call `service(**{keyword: row})` for each of `rows`; return how many it changed."""
    # The newest key when the work began: the end of the walk.
    last = rows.order_by("-pk").values_list("pk", flat=True).first()
    changed, after = 0, None
    while last is not None:
        page = (
            rows.filter(pk__lte=last) if after is None else rows.filter(pk__gt=after, pk__lte=last)
        )
        batch = list(page.select_related(*related).order_by("pk")[:BATCH_SIZE])
        if not batch:
            break
        for row in batch:
            try:
                service(**{keyword: row})
            except SchedulerError:  # refused: this row is passed over, not the rest
                continue
            changed += 1
        after = batch[-1].pk
    return changed


def executions_apply(executions: QuerySet, service: Callable) -> int:
    """Call `service(execution=...)` for each of `executions`; return how many it changed."""
    return apply_matching(executions, service, keyword="execution", related=("job",))


def jobs_apply(jobs: QuerySet, service: Callable) -> int:
    """Call `service(job=...)` for each of `jobs`; return how many it changed."""
    return apply_matching(jobs, service, keyword="job")
