"""The counts and recent windows of one user's jobs (staff: everyone's), in three queries.

`GET /api/v1/stats` returns them and the admin dashboard shows them:

- jobs by state: one GROUP BY over the user's jobs (index on owner);
- executions queued (and of those, due), running and dead-lettered: one GROUP BY over
  those states only (see counts.execution_counts);
- outcomes over the recent windows: one aggregate over executions finished within the
  longest window, a range scan of the (state, finished_at) index per outcome.
"""

from datetime import datetime, timedelta

from django.db.models import Count, Q

from jobs import policy
from jobs.states import ExecutionState

from .activity import OUTCOMES
from .counts import execution_counts, job_counts

# (label, seconds): the windows throughput and failure rate are computed over.
WINDOWS = (("5m", 5 * 60), ("1h", 60 * 60), ("24h", 24 * 60 * 60))


def stats_for(user, *, now: datetime) -> dict:
    """Return counts by state and recent throughput of the jobs `user` may see."""
    jobs = job_counts(user=user)
    current = execution_counts(now=now, user=user)
    longest = max(seconds for _, seconds in WINDOWS)
    counts = (
        policy.executions_for(user)
        .order_by()
        .filter(state__in=OUTCOMES, finished_at__gte=now - timedelta(seconds=longest))
        .aggregate(
            **{
                f"{label}:{state}": Count(
                    "pk", filter=Q(state=state, finished_at__gte=now - timedelta(seconds=seconds))
                )
                for label, seconds in WINDOWS
                for state in OUTCOMES
            }
        )
    )
    return {
        "generated_at": now,
        "jobs": {**jobs, "total": sum(jobs.values())},
        "executions": current,
        "windows": [_window(label, seconds, counts, now) for label, seconds in WINDOWS],
    }


def failure_rate(outcome: dict[str, int]) -> float | None:
    """Return (failed + dead) / (succeeded + failed + dead), None when none of those.

    Cancelled attempts say nothing about a handler's health, so they are left out.
    """
    failures = outcome[ExecutionState.FAILED] + outcome[ExecutionState.DEAD]
    judged = failures + outcome[ExecutionState.SUCCEEDED]
    return failures / judged if judged else None


def _window(label: str, seconds: int, counts: dict, now: datetime) -> dict:
    outcome = {state: counts[f"{label}:{state}"] for state in OUTCOMES}
    finished = sum(outcome.values())
    rate = failure_rate(outcome)
    return {
        "window": label,
        "seconds": seconds,
        "since": now - timedelta(seconds=seconds),
        **outcome,
        "finished": finished,
        "throughput_per_minute": round(finished / (seconds / 60), 3),
        "failure_rate": round(rate, 4) if rate is not None else None,
    }
