"""Each queue's executions now: due, delayed, running, and how long the oldest due one waits."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from jobs.models import Execution
from jobs.states import ExecutionState

from .counts import due


@dataclass
class QueueFigures:
    """One queue's executions now."""

    due: int = 0  # queued and due: waiting only for a free worker slot
    delayed: int = 0  # queued for later, e.g. a retry waiting out its backoff
    running: int = 0
    oldest_due_at: datetime | None = None

    def lag_seconds(self, now: datetime) -> float:
        """How long the oldest due execution has waited past its run_after (0 if none)."""
        if self.oldest_due_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_due_at).total_seconds())


def queue_figures(*, now: datetime, served=frozenset()) -> dict[str, QueueFigures]:
    """Return each queue's executions now, by name: those with work, and the `served` ones.

    `served` names the queues live workers take from, so a queue that is empty but served
    still shows (with zeros) and one nobody serves any more drops out once it drains.
    """
    queues = {name: QueueFigures() for name in served}
    queued, running = ExecutionState.QUEUED, ExecutionState.RUNNING
    is_due = due(now)
    # Only queued and running rows: both have a partial index, so this stays small.
    rows = (
        Execution.objects.filter(state__in=[queued, running])
        .order_by()
        .values("queue")
        .annotate(
            due=Count("id", filter=is_due),
            delayed=Count("id", filter=Q(state=queued, run_after__gt=now)),
            running=Count("id", filter=Q(state=running)),
            oldest_due_at=Min("run_after", filter=is_due),
        )
    )
    for row in rows:
        name = row.pop("queue")
        queues[name] = QueueFigures(**row)
    return dict(sorted(queues.items()))
