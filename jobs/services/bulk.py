"""Acting on every job or execution a filter matches, not just one page of them.

The rows are taken in batches by primary key, each changed through its own service call (its
own short transaction and audit event, as if an operator had acted on it alone), so no
request holds locks on thousands of rows. Only what matched when the work began is touched:
the retries it queues are newer rows. One whose state refuses the change is passed over.
"""

from collections.abc import Callable

from django.db.models import QuerySet

from ..exceptions import InvalidTransition

BATCH_SIZE = 200


def apply_matching(
    rows: QuerySet, service: Callable, *, keyword: str, related: tuple[str, ...] = ()
) -> int:
    """Call `service(**{keyword: row})` for each of `rows`; return how many it changed."""
    # The newest key when the work began: rows made meanwhile (a retry) are not visited.
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
            except InvalidTransition:
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
