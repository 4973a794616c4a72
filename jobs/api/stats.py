"""The figures behind GET /api/v1/stats, for one user (staff: everyone), in three queries.

- jobs by state: one GROUP BY over the user's jobs (index on owner);
- executions queued (and of those, due), running and dead-lettered: one GROUP BY over
  those states only, read through the partial indexes and (state, finished_at), never over
  the whole history;
- outcomes over the recent windows: one aggregate over executions finished within the
  longest window, a range scan of the (state, finished_at) index per outcome.
"""

from datetime import datetime, timedelta

from django.db.models import Count, Q

from jobs.models import Execution, Job
from jobs.states import ExecutionState, JobState

# (label, seconds): the windows throughput and failure rate are computed over.
WINDOWS = (("5m", 5 * 60), ("1h", 60 * 60), ("24h", 24 * 60 * 60))
OUTCOMES = (
    ExecutionState.SUCCEEDED,
    ExecutionState.FAILED,
    ExecutionState.DEAD,
    ExecutionState.CANCELLED,
)
CURRENT = (ExecutionState.QUEUED, ExecutionState.RUNNING, ExecutionState.DEAD)


def stats_for(user, *, now: datetime) -> dict:
    """Return counts by state and recent throughput of the jobs `user` may see."""
    jobs = dict.fromkeys(JobState.values, 0)
    by_state = Job.objects.owned_by(user).order_by().values_list("state").annotate(Count("pk"))
    jobs.update(by_state)

    executions = Execution.objects.owned_by(user).order_by()
    current = {**dict.fromkeys(CURRENT, 0), "due": 0}
    rows = (
        executions.filter(state__in=CURRENT)
        .values("state")
        .annotate(
            n=Count("pk"),
            due=Count("pk", filter=Q(state=ExecutionState.QUEUED, run_after__lte=now)),
        )
    )
    for row in rows:
        current[row["state"]] = row["n"]
        current["due"] += row["due"]

    longest = max(seconds for _, seconds in WINDOWS)
    counts = executions.filter(
        state__in=OUTCOMES, finished_at__gte=now - timedelta(seconds=longest)
    ).aggregate(
        **{
            f"{label}:{state}": Count(
                "pk", filter=Q(state=state, finished_at__gte=now - timedelta(seconds=seconds))
            )
            for label, seconds in WINDOWS
            for state in OUTCOMES
        }
    )
    return {
        "generated_at": now,
        "jobs": {**jobs, "total": sum(jobs.values())},
        "executions": current,
        "windows": [_window(label, seconds, counts, now) for label, seconds in WINDOWS],
    }


def _window(label: str, seconds: int, counts: dict, now: datetime) -> dict:
    outcome = {state: counts[f"{label}:{state}"] for state in OUTCOMES}
    finished = sum(outcome.values())
    # Attempts that ran to an end; cancelled ones say nothing about the handler's health.
    judged = finished - outcome[ExecutionState.CANCELLED]
    failures = outcome[ExecutionState.FAILED] + outcome[ExecutionState.DEAD]
    return {
        "window": label,
        "seconds": seconds,
        "since": now - timedelta(seconds=seconds),
        **outcome,
        "finished": finished,
        "throughput_per_minute": round(finished / (seconds / 60), 3),
        "failure_rate": round(failures / judged, 4) if judged else None,
    }
