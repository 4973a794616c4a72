"""Workers: which are live, what each holds, and the slots the live ones offer.

Whether a worker is live is the model's rule (`Worker.objects.alive()`: not stopped, and a
heartbeat within WORKER_LEASE_SECONDS); everything here reads through it.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, QuerySet

from jobs.models import Execution, Worker
from jobs.states import ExecutionState

STATUSES = ("alive", "stale", "stopped")


@dataclass(frozen=True)
class Fleet:
    """The live workers taken together."""

    alive: int
    slots: int  # the summed concurrency of live workers
    served: frozenset[str]  # the queues they take from
    # Each live worker's handler threads abandoned at their timeout that still run.
    abandoned_threads: dict[str, int]
    handlers: frozenset[str] = frozenset()  # the handlers they have, and so claim


def waiting_for_handler(live: Fleet, *, now: datetime) -> dict[str, int]:
    """Due executions no live worker can run, by handler: their handler is in none of the
    live workers' (a rolling deploy's old workers, or a handler module not installed).
    Nothing while no worker is live: that is an alarm of its own."""
    if not live.alive:
        return {}
    waiting = (
        Execution.objects.filter(state=ExecutionState.QUEUED, run_after__lte=now)
        .exclude(job__handler__in=live.handlers)
        .values_list("job__handler")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(waiting)


def fleet(*, now: datetime | None = None) -> Fleet:
    """Return how many workers are live, their slots and the queues they serve (one query)."""
    rows = list(
        Worker.objects.alive(now=now).values_list(
            "concurrency", "queues", "name", "abandoned_threads", "handlers"
        )
    )
    return Fleet(
        alive=len(rows),
        slots=sum(row[0] for row in rows),
        served=frozenset(name for row in rows for name in row[1] or []),
        abandoned_threads={row[2]: row[3] for row in rows},
        handlers=frozenset(name for row in rows for name in row[4] or []),
    )


def worker_rows(*, everyone: bool = False, host: str | None = None) -> QuerySet:
    """Return workers newest first, each with `running`: the live ones, or all of them."""
    rows = Worker.objects.all() if everyone else Worker.objects.alive()
    if host:
        rows = rows.filter(hostname=host)
    # Explicit order: Meta.ordering does not apply to the annotated query.
    return rows.with_running().order_by("-started_at", "-pk")


def with_status(queryset: QuerySet, status: str) -> QuerySet:
    """Return the workers of `queryset` whose status (one of STATUSES) is `status`."""
    if status == "stopped":
        return queryset.filter(stopped_at__isnull=False)
    alive = Worker.objects.alive().values("pk")
    if status == "alive":
        return queryset.filter(pk__in=alive)
    return queryset.filter(stopped_at__isnull=True).exclude(pk__in=alive)
