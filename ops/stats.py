"""Figures about the scheduler, read from the database in six short queries.

The /metrics page and `manage.py jobsctl stats` show these. The database is the only state,
so every web process on every host gives the same answer, a restart loses nothing, and no
worker needs an exporter of its own. Activity figures (finished, durations, retries,
rescues) cover a sliding window of METRICS_WINDOW_SECONDS: the queries read the window's
rows through indexes on finished_at and created_at, so a scrape costs the same on the first
day and after a year of history, and pruning old rows never makes a figure jump.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.utils import timezone

from jobs.models import Execution, Job, Worker
from jobs.states import ExecutionState, JobState

# Upper bounds of the duration histogram's buckets, in seconds (+Inf is implied).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
OUTCOMES = (
    ExecutionState.SUCCEEDED,
    ExecutionState.FAILED,
    ExecutionState.DEAD,
    ExecutionState.CANCELLED,
)
# The engine's rescue writes this at the start of the error of each attempt it takes over.
RESCUE_ERROR_PREFIX = "Worker lost"


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


@dataclass
class Snapshot:
    taken_at: datetime
    window_seconds: int
    jobs: dict[str, int]
    queues: dict[str, QueueFigures]
    handlers: dict[str, HandlerFigures]
    workers_alive: int
    worker_slots: int  # the summed concurrency of live workers
    collect_seconds: float = 0.0

    @property
    def dead_letters(self) -> int:
        return sum(h.dead_letters for h in self.handlers.values())


def snapshot(*, now: datetime | None = None, window_seconds: int | None = None) -> Snapshot:
    """Read the scheduler's figures from the database."""
    started = time.monotonic()
    now = now or timezone.now()
    window_seconds = window_seconds or settings.METRICS_WINDOW_SECONDS
    since = now - timedelta(seconds=window_seconds)

    jobs = dict.fromkeys(JobState.values, 0)
    for state, count in Job.objects.order_by().values_list("state").annotate(Count("id")):
        jobs[state] = count

    workers = list(Worker.objects.alive(now=now).values_list("concurrency", "queues"))
    served = {name for _, names in workers for name in names or []}
    queues = queue_figures(now=now, served=served)

    handlers: dict[str, HandlerFigures] = {}
    for row in _finished_in_window(since):
        figures = handlers.setdefault(row["job__handler"], HandlerFigures())
        figures.finished[row["state"]] += row["n"]
        figures.rescues += row["rescues"]
        for i in range(len(DURATION_BUCKETS)):
            figures.duration_buckets[i] += row[f"le_{i}"]
        figures.duration_buckets[-1] += row["ran"]
        if row["duration_sum"] is not None:
            figures.duration_sum += row["duration_sum"].total_seconds()
    retries = (
        Execution.objects.filter(created_at__gte=since, attempt__gt=1)
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

    return Snapshot(
        taken_at=now,
        window_seconds=window_seconds,
        jobs=jobs,
        queues=queues,
        handlers=dict(sorted(handlers.items())),
        workers_alive=len(workers),
        worker_slots=sum(concurrency for concurrency, _ in workers),
        collect_seconds=time.monotonic() - started,
    )


def queue_figures(*, now: datetime, served: set[str] = frozenset()) -> dict[str, QueueFigures]:
    """Return each queue's executions now: those with work, and the `served` ones."""
    queues = {name: QueueFigures() for name in served}
    queued, running = ExecutionState.QUEUED, ExecutionState.RUNNING
    due = Q(state=queued, run_after__lte=now)
    # Only queued and running rows: both have a partial index, so this stays small.
    rows = (
        Execution.objects.filter(state__in=[queued, running])
        .order_by()
        .values("queue")
        .annotate(
            due=Count("id", filter=due),
            delayed=Count("id", filter=Q(state=queued, run_after__gt=now)),
            running=Count("id", filter=Q(state=running)),
            oldest_due_at=Min("run_after", filter=due),
        )
    )
    for row in rows:
        name = row.pop("queue")
        queues[name] = QueueFigures(**row)
    return dict(sorted(queues.items()))


def _finished_in_window(since: datetime):
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
            rescues=Count("id", filter=Q(error__startswith=RESCUE_ERROR_PREFIX)),
            ran=Count("id", filter=Q(started_at__isnull=False)),
            duration_sum=Sum("duration"),
            **buckets,
        )
    )
