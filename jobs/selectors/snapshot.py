"""Everything /metrics and `jobsctl stats` show, read from the database at one moment.

The database is the only state, so every web process on every host gives the same answer,
a restart loses nothing, and no worker needs an exporter of its own. Activity figures cover
a sliding window of METRICS_WINDOW_SECONDS.
"""

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from jobs import conf

from .activity import HandlerFigures, handler_activity
from .counts import job_counts
from .queues import QueueFigures, QueueLimits, queue_figures, queue_limits
from .workers import fleet, waiting_for_handler


@dataclass
class Snapshot:
    taken_at: datetime
    window_seconds: int
    jobs: dict[str, int]
    queues: dict[str, QueueFigures]
    handlers: dict[str, HandlerFigures]
    workers_alive: int
    worker_slots: int  # the summed concurrency of live workers
    # Live workers' handler threads abandoned at their timeout that still run, by worker.
    worker_abandoned_threads: dict[str, int]
    # The configured queues' pause and limits, and the claims their limits held back.
    queue_limits: dict[str, QueueLimits]
    # Due executions whose handler no live worker has, by handler.
    waiting_for_handler: dict[str, int]
    collect_seconds: float = 0.0

    @property
    def dead_letters(self) -> int:
        return sum(h.dead_letters for h in self.handlers.values())


def snapshot(*, now: datetime | None = None, window_seconds: int | None = None) -> Snapshot:
    """Read the scheduler's figures from the database (eight short queries)."""
    started = time.monotonic()
    now = now or timezone.now()
    window_seconds = window_seconds or conf.METRICS_WINDOW_SECONDS
    jobs = job_counts()
    live = fleet(now=now)
    return Snapshot(
        taken_at=now,
        window_seconds=window_seconds,
        jobs=jobs,
        queues=queue_figures(now=now, served=live.served),
        handlers=handler_activity(since=now - timedelta(seconds=window_seconds)),
        workers_alive=live.alive,
        worker_slots=live.slots,
        worker_abandoned_threads=live.abandoned_threads,
        queue_limits=queue_limits(),
        waiting_for_handler=waiting_for_handler(live, now=now),
        collect_seconds=time.monotonic() - started,
    )
