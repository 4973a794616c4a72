"""The states of jobs and executions, and the moves between them, written once."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ScheduleType(models.TextChoices):
    ONCE = "once", _("Once")
    INTERVAL = "interval", _("Interval")
    CRON = "cron", _("Cron")


class MisfirePolicy(models.TextChoices):
    # After downtime, run the latest missed occurrence once and carry on.
    RUN_ONCE = "run_once", _("Run once")
    # After downtime, drop missed occurrences; run only the next on-time one.
    SKIP = "skip", _("Skip")
    # After downtime, run every missed occurrence.
    RUN_ALL = "run_all", _("Run all")


# What a job may be notified of (its notify_on), by email or webhook.
NOTIFY_EVENTS = ("success", "failure", "dead", "recovered")


class JobState(models.TextChoices):
    # Runs at next_run_at (a one-time job with no next_run_at waits on its execution).
    ACTIVE = "active", _("Active")
    # Kept, but nothing new is materialised.
    PAUSED = "paused", _("Paused")
    # A one-time job that succeeded.
    COMPLETED = "completed", _("Completed")
    # A one-time job whose run was dead-lettered.
    FAILED = "failed", _("Failed")
    # Stopped for good.
    CANCELLED = "cancelled", _("Cancelled")


JOB_TRANSITIONS: dict[str, frozenset[str]] = {
    JobState.ACTIVE: frozenset(
        {JobState.PAUSED, JobState.CANCELLED, JobState.COMPLETED, JobState.FAILED}
    ),
    # A one-time job paused while its run was in flight still takes that run's outcome.
    JobState.PAUSED: frozenset(
        {JobState.ACTIVE, JobState.CANCELLED, JobState.COMPLETED, JobState.FAILED}
    ),
    # A finished one-time job runs again when it is rescheduled or its dead run retried.
    JobState.COMPLETED: frozenset({JobState.ACTIVE}),
    JobState.FAILED: frozenset({JobState.ACTIVE}),
    JobState.CANCELLED: frozenset(),
}

# One-time jobs whose run ended; rescheduling them (or retrying a failed one's dead run)
# makes them active again.
FINISHED_JOB_STATES = frozenset({JobState.COMPLETED, JobState.FAILED})

# What each operation on a job accepts, by the job's current state. Services check these
# (with a conditional UPDATE or under a row lock), the admin and API offer only what they
# allow.
_UNFINISHED = frozenset({JobState.ACTIVE, JobState.PAUSED})
JOB_ACTIONS: dict[str, frozenset[str]] = {
    "pause": frozenset({JobState.ACTIVE}),
    "resume": frozenset({JobState.PAUSED}),
    "cancel": _UNFINISHED,
    "trigger": frozenset(set(JobState.values) - {JobState.CANCELLED}),
    # Queueing the next attempt of an occurrence, by hand or after a failure. Pausing stops
    # the schedule, not work already begun (as pausing a cron entry in Oban or
    # django-celery-beat does): a paused job's retries still run, as its manual triggers do.
    # A cancelled job gets no new attempt; its failing run ends cancelled.
    "retry": frozenset(set(JobState.values) - {JobState.CANCELLED}),
    "edit": frozenset(set(JobState.values) - {JobState.CANCELLED}),
    "reschedule": frozenset(set(JobState.values) - {JobState.CANCELLED}),
    # Queueing past occurrences that never ran; like a trigger, a paused job's backfill runs.
    "backfill": frozenset(set(JobState.values) - {JobState.CANCELLED}),
}


class ExecutionState(models.TextChoices):
    # Waiting for run_after; any worker of its queue may claim it.
    QUEUED = "queued", _("Queued")
    # Claimed; only the worker holding it finishes it (or a rescue, once its lease lapsed).
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    # This attempt failed and a later attempt was queued.
    FAILED = "failed", _("Failed")
    # The last allowed attempt failed: the dead letter.
    DEAD = "dead", _("Dead")
    CANCELLED = "cancelled", _("Cancelled")


EXECUTION_TRANSITIONS: dict[str, frozenset[str]] = {
    ExecutionState.QUEUED: frozenset({ExecutionState.RUNNING, ExecutionState.CANCELLED}),
    ExecutionState.RUNNING: frozenset(
        {
            ExecutionState.SUCCEEDED,
            ExecutionState.FAILED,
            ExecutionState.DEAD,
            ExecutionState.CANCELLED,
            # Released at shutdown, before the handler finished.
            ExecutionState.QUEUED,
        }
    ),
    ExecutionState.SUCCEEDED: frozenset(),
    ExecutionState.FAILED: frozenset(),
    ExecutionState.DEAD: frozenset(),
    ExecutionState.CANCELLED: frozenset(),
}


class ErrorCode(models.TextChoices):
    """Why an attempt failed, for rules and figures (the error text is for people)."""

    NONE = "", _("None")
    # The handler raised.
    EXCEPTION = "exception", _("Exception")
    # The handler outlived its timeout and was abandoned.
    TIMEOUT = "timeout", _("Timeout")
    # No handler of that name is registered in the worker that claimed it.
    HANDLER_NOT_FOUND = "handler_not_found", _("Handler not found")
    # The handler returned something that is not JSON.
    BAD_RESULT = "bad_result", _("Result not JSON")
    # Its worker stopped heartbeating; a live worker rescued the attempt.
    WORKER_LOST = "worker_lost", _("Worker lost")


# Claimed by a worker: only that worker (or a rescue, once its lease lapsed) moves these on;
# anyone else may only ask it to stop.
HELD_EXECUTION_STATES = frozenset({ExecutionState.RUNNING})

FINISHED_EXECUTION_STATES = frozenset(
    {
        ExecutionState.SUCCEEDED,
        ExecutionState.FAILED,
        ExecutionState.DEAD,
        ExecutionState.CANCELLED,
    }
)

# What each operation on an execution accepts, by the execution's current state.
EXECUTION_ACTIONS: dict[str, frozenset[str]] = {
    "retry": frozenset({ExecutionState.DEAD, ExecutionState.CANCELLED}),
    # Queued: cancelled at once. Running (held): asked to stop; the handler decides when.
    "cancel": frozenset({ExecutionState.QUEUED, ExecutionState.RUNNING}),
}


def _sources(transitions: dict, allowed, target: str) -> frozenset[str]:
    return frozenset(s for s in allowed if target in transitions[s])


def job_sources(target: str, action: str | None = None) -> frozenset[str]:
    """Return the job states that may move to `target` (by `action`): an UPDATE's WHERE."""
    allowed = JOB_ACTIONS[action] if action else JOB_TRANSITIONS
    return _sources(JOB_TRANSITIONS, allowed, target)


def execution_sources(target: str, action: str | None = None) -> frozenset[str]:
    """Return the execution states that may move to `target` (by `action`)."""
    allowed = EXECUTION_ACTIONS[action] if action else EXECUTION_TRANSITIONS
    return _sources(EXECUTION_TRANSITIONS, allowed, target)


def job_allows(job_state: str, action: str) -> bool:
    """Return True if a job in `job_state` accepts `action`."""
    return job_state in JOB_ACTIONS[action]


def execution_allows(execution_state: str, action: str) -> bool:
    """Return True if an execution in `execution_state` accepts `action`."""
    return execution_state in EXECUTION_ACTIONS[action]
