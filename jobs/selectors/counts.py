"""Jobs by state, and executions by the states that describe the work at hand."""

from datetime import datetime

from django.db.models import Count, Q

from jobs import policy
from jobs.models import Execution, Job
from jobs.states import ExecutionState, JobState

# The execution states counted as they are now (finished outcomes are counted per window).
CURRENT = (ExecutionState.QUEUED, ExecutionState.RUNNING, ExecutionState.DEAD)


def due(now: datetime) -> Q:
    """Queued executions whose run_after has come: they wait only for a free worker slot."""
    return Q(state=ExecutionState.QUEUED, run_after__lte=now)


def job_counts(*, user=None) -> dict[str, int]:
    """Return how many jobs are in each state: those `user` may see (jobs.policy), or all
    without one."""
    jobs = Job.objects.all() if user is None else policy.jobs_for(user)
    counts = dict.fromkeys(JobState.values, 0)
    counts.update(jobs.order_by().values_list("state").annotate(Count("pk")))
    return counts


def execution_counts(*, now: datetime, user=None) -> dict[str, int]:
    """Return executions queued (and of those, due), running and dead, in one query.

    Only rows in those states are read: queued and running through their partial indexes,
    dead through (state, finished_at), never the rest of the history.
    """
    executions = Execution.objects.all() if user is None else policy.executions_for(user)
    counts = {**dict.fromkeys(CURRENT, 0), "due": 0}
    rows = (
        executions.order_by()
        .filter(state__in=CURRENT)
        .values("state")
        .annotate(n=Count("pk"), due=Count("pk", filter=due(now)))
    )
    for row in rows:
        counts[row["state"]] = row["n"]
        counts["due"] += row["due"]
    return counts
