"""A job's newest runs, for its page's outcome strip and duration chart.

One indexed read: the (job, scheduled_for, attempt) key walked backwards, however long the
job's history. Queued attempts are left out: they have no outcome yet, and the page lists
what is to come under its upcoming runs.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from jobs.models import Execution, Job
from jobs.states import ExecutionState

RECENT_RUNS = 50  # the strip's cells and the chart's points


@dataclass(frozen=True)
class Run:
    execution_id: int
    attempt: int
    state: str
    scheduled_for: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


def recent_runs(job: Job, limit: int = RECENT_RUNS) -> list[Run]:
    """Return `job`'s newest `limit` attempts that started or ended, oldest first."""
    rows = (
        Execution.objects.filter(job=job)
        .exclude(state=ExecutionState.QUEUED)
        .order_by("-scheduled_for", "-attempt")
        .values_list("pk", "attempt", "state", "scheduled_for", "started_at", "finished_at")[:limit]
    )
    return [Run(*row) for row in reversed(rows)]
