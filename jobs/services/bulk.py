"""Acting on every execution a filter matches, not just one page of them.

The executions are taken in batches by id, each changed through its own service call (its
own short transaction and audit event, as if an operator had acted on it alone), so no
request holds locks on thousands of rows. Only what matched when the work began is touched:
the retries it queues are newer rows. One whose state refuses the change is passed over.
"""

from collections.abc import Callable

from django.db.models import Max, QuerySet

from ..exceptions import InvalidTransition
from ..models import Execution

BATCH_SIZE = 200


def executions_apply(executions: QuerySet, service: Callable[..., Execution]) -> int:
    """Call `service(execution=...)` for each of `executions`; return how many it changed."""
    last = executions.aggregate(last=Max("pk"))["last"]
    changed, after = 0, 0
    while last is not None:
        batch = list(
            executions.filter(pk__gt=after, pk__lte=last)
            .select_related("job")
            .order_by("pk")[:BATCH_SIZE]
        )
        if not batch:
            break
        for execution in batch:
            try:
                service(execution=execution)
            except InvalidTransition:
                continue
            changed += 1
        after = batch[-1].pk
    return changed
