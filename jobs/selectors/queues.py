"""Each queue's executions now (due, delayed, running, how long the oldest due one waits), and
the queues as objects: their pause and limits beside what they hold."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from jobs.models import Execution, Queue
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


@dataclass(frozen=True)
class QueueRow:
    """A queue as the API, the admin and jobsctl list it: its settings and what it holds."""

    name: str
    paused: bool
    concurrency_limit: int | None
    rate_limit: int | None
    rate_period: int
    queued: int  # due and delayed
    due: int
    running: int
    oldest_due_at: datetime | None
    # Claims that found due work held back, by the limit that held it (since the queue's
    # row was made).
    held_back: dict[str, int]

    @property
    def throttled(self) -> bool:
        """Due work waits while the queue is paused or at its concurrency limit."""
        full = self.concurrency_limit is not None and self.running >= self.concurrency_limit
        return self.due > 0 and (self.paused or full)


HELD_BACK_KINDS = ("concurrency", "rate", "key")


def queue_rows(*, now: datetime, name: str | None = None) -> list[QueueRow]:
    """Return every queue in use (each one a job named, or one with work), by name."""
    figures = queue_figures(now=now)
    configured = {q.name: q for q in Queue.objects.select_related("engine_state")}
    names = sorted(set(configured) | set(figures))
    if name is not None:
        names = [n for n in names if n == name]
    rows = []
    for queue_name in names:
        queue = configured.get(queue_name) or Queue(name=queue_name)
        state = getattr(queue, "engine_state", None) if queue.pk in configured else None
        figure = figures.get(queue_name) or QueueFigures()
        rows.append(
            QueueRow(
                name=queue_name,
                paused=queue.paused,
                concurrency_limit=queue.concurrency_limit,
                rate_limit=queue.rate_limit,
                rate_period=queue.rate_period,
                queued=figure.due + figure.delayed,
                due=figure.due,
                running=figure.running,
                oldest_due_at=figure.oldest_due_at,
                held_back={
                    kind: getattr(state, f"held_{kind}", 0) if state else 0
                    for kind in HELD_BACK_KINDS
                },
            )
        )
    return rows


@dataclass(frozen=True)
class QueueLimits:
    """A configured queue's pause and limits, and the claims its limits held back."""

    paused: bool
    concurrency_limit: int | None
    rate_limit: int | None
    rate_period: int
    held_back: dict[str, int]


def queue_limits() -> dict[str, QueueLimits]:
    """Return every queue row's pause and limits by name (one query, for /metrics)."""
    limits = {}
    for queue in Queue.objects.select_related("engine_state").order_by("name"):
        state = getattr(queue, "engine_state", None)
        limits[queue.name] = QueueLimits(
            paused=queue.paused,
            concurrency_limit=queue.concurrency_limit,
            rate_limit=queue.rate_limit,
            rate_period=queue.rate_period,
            held_back={kind: getattr(state, f"held_{kind}", 0) for kind in HELD_BACK_KINDS},
        )
    return limits
