"""What each handler's executions did over a window: outcomes, retries, rescues, durations.

The window's rows are read through indexes on finished_at and created_at, so the cost does
not grow with the history, and pruning old rows never makes a figure jump.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum

from jobs.models import Execution
from jobs.states import ErrorCode, ExecutionState

# The ends an execution can come to, in the order every figure lists them.
OUTCOMES = (
    ExecutionState.SUCCEEDED,
    ExecutionState.FAILED,
    ExecutionState.DEAD,
    ExecutionState.CANCELLED,
)
# Upper bounds of the duration histogram's buckets, in seconds (+Inf is implied).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# An attempt a live worker took over from one whose lease lapsed (the engine's rescue).
RESCUED = Q(error_code=ErrorCode.WORKER_LOST)
# A retry: any attempt after an occurrence's first.
RETRY = Q(attempt__gt=1)


@dataclass
class HandlerFigures:
    """One handler's activity over the window, and its dead letters overall."""

    finished: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    retries: int = 0  # attempts after the first, queued in the window
    rescues: int = 0  # attempts failed because their worker was lost, in the window
    # Cumulative counts per DURATION_BUCKETS bound, then +Inf, of attempts that ran.
    duration_buckets: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum: float = 0.0  # seconds
    dead_letters: int = 0  # executions in state dead, all time

    @property
    def duration_count(self) -> int:
        return self.duration_buckets[-1]

    @property
    def mean_duration_seconds(self) -> float | None:
        """The mean run time of the attempts that ran, to the microsecond (None if none)."""
        return round(self.duration_sum / self.duration_count, 6) if self.duration_count else None


def handler_activity(*, since: datetime) -> dict[str, HandlerFigures]:
    """Return each handler's figures since `since`, by handler name (three queries)."""
    handlers: dict[str, HandlerFigures] = {}
    for row in _finished_since(since):
        figures = handlers.setdefault(row["job__handler"], HandlerFigures())
        figures.finished[row["state"]] += row["n"]
        figures.rescues += row["rescues"]
        for i in range(len(DURATION_BUCKETS)):
            figures.duration_buckets[i] += row[f"le_{i}"]
        figures.duration_buckets[-1] += row["ran"]
        if row["duration_sum"] is not None:
            figures.duration_sum += row["duration_sum"].total_seconds()
    retries = (
        Execution.objects.filter(RETRY, created_at__gte=since)
        .order_by()
        .values_list("job__handler")
        .annotate(Count("id"))
    )
    for handler, count in retries:
        handlers.setdefault(handler, HandlerFigures()).retries = count
    dead = (
        Execution.objects.filter(state=ExecutionState.DEAD)
        .order_by()
        .values_list("job__handler")
        .annotate(Count("id"))
    )
    for handler, count in dead:
        handlers.setdefault(handler, HandlerFigures()).dead_letters = count
    return dict(sorted(handlers.items()))


def _finished_since(since: datetime):
    """Executions finished since `since`, grouped by handler and outcome, with durations."""
    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    buckets = {
        f"le_{i}": Count("id", filter=Q(duration__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(DURATION_BUCKETS)
    }
    # (state, finished_at) is indexed: the window is a range scan per outcome.
    return (
        Execution.objects.filter(state__in=OUTCOMES, finished_at__gte=since)
        .alias(duration=duration)
        .order_by()
        .values("job__handler", "state")
        .annotate(
            n=Count("id"),
            rescues=Count("id", filter=RESCUED),
            ran=Count("id", filter=Q(started_at__isnull=False)),
            duration_sum=Sum("duration"),
            **buckets,
        )
    )
