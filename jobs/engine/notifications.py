"""Notifications about outcomes, queued in the transaction that records the outcome.

A notification is a one-time job of the built-in `notification` handler, so delivery is as
durable as any job: it retries, it dead-letters, it shows in the admin, and a mail server
that refuses shows up there rather than in the outcome of the job it is about. Queued in the
same transaction as the outcome, it exists exactly when the outcome does.
"""

from datetime import datetime, timedelta

from .. import conf
from ..models import Job
from ..states import JobState, ScheduleType
from . import enqueue, queries
from .rows import ExecutionRow, JobRow

HANDLER = "notification"
MAX_RETRIES = 5
RETRY_BACKOFF_SECONDS = 30


def wants(job: JobRow, event: str) -> bool:
    """Return True if `job` has somewhere to send `event`."""
    return event in (job.notify_on or []) and bool(job.notify_emails or job.notify_webhook_url)


def _digest_allows(cursor, job: JobRow, now: datetime) -> bool:
    """Take the job's failure-email slot for this digest window (a conditional UPDATE)."""
    if not job.notify_digest_minutes:
        return True
    window_start = now - timedelta(minutes=job.notify_digest_minutes)
    taken = queries.run(
        cursor, "take_failure_digest", job=job.id, now=now, window_start=window_start
    )
    return taken.fetchone() is not None


def queue(
    cursor, execution: ExecutionRow, event: str, *, state: str, error: str, now: datetime
) -> int:
    """Queue the deliveries of `event` about `execution` (which ended `state` with `error`)
    on `cursor`; return how many were queued."""
    job = execution.job
    if not wants(job, event):
        return 0
    channels = []
    if job.notify_emails and (event != "failure" or _digest_allows(cursor, job, now)):
        channels.append("email")
    if job.notify_webhook_url:
        channels.append("webhook")
    jobs = [
        Job(
            owner_id=job.owner_id,
            name=f"Notify {event} ({channel}): {job.name}"[:200],
            handler=HANDLER,
            payload={
                "channel": channel,
                "event": event,
                "job_id": str(job.id),
                "execution_id": execution.id,
                "attempt": execution.attempt,
                "state": state,
                "error": error[:2000],
                "at": now.isoformat(),
            },
            schedule_type=ScheduleType.ONCE,
            run_at=now,
            next_run_at=None,  # its run is queued here: nothing left to materialise
            last_run_at=now,
            queue=conf.NOTIFICATION_QUEUE or job.queue,
            priority=job.priority,
            max_retries=MAX_RETRIES,
            retry_backoff_seconds=RETRY_BACKOFF_SECONDS,
            state=JobState.ACTIVE,
        )
        for channel in channels
    ]
    if jobs:
        runs = [(notification, now) for notification in jobs]
        enqueue.jobs_insert(cursor, jobs, runs, now=now, changes=None)
    return len(jobs)
