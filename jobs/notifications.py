"""Queue notifications about outcomes, in the transaction that records the outcome.

A notification is a one-time job of the built-in `notification` handler, so delivery is as
durable as any job: it retries, it dead-letters, it shows in the admin, and a mail server
that refuses shows up there rather than in the outcome of the job it is about. Queued in the
same transaction as the outcome, it exists exactly when the outcome does.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q

from . import engine
from .models import Execution, Job
from .states import JobState, ScheduleType

EVENTS = ("success", "failure", "dead", "recovered")
HANDLER = "notification"
MAX_RETRIES = 5
RETRY_BACKOFF_SECONDS = 30


def wants(job: Job, event: str) -> bool:
    """Return True if `job` has somewhere to send `event`."""
    return event in (job.notify_on or []) and bool(job.notify_emails or job.notify_webhook_url)


def _digest_allows(job: Job, now: datetime) -> bool:
    """Claim the job's failure-email slot for this digest window (a conditional UPDATE)."""
    if not job.notify_digest_minutes:
        return True
    window_start = now - timedelta(minutes=job.notify_digest_minutes)
    return bool(
        Job.objects.filter(pk=job.pk)
        .filter(
            Q(last_failure_notified_at__isnull=True) | Q(last_failure_notified_at__lte=window_start)
        )
        .update(last_failure_notified_at=now)
    )


def queue(execution: Execution, event: str, *, now: datetime) -> list[Job]:
    """Queue the deliveries of `event` about `execution`; return the notification jobs."""
    job = execution.job
    if not wants(job, event):
        return []
    channels = []
    if job.notify_emails and (event != "failure" or _digest_allows(job, now)):
        channels.append("email")
    if job.notify_webhook_url:
        channels.append("webhook")
    created = []
    for channel in channels:
        notification = Job(
            owner_id=job.owner_id,
            name=f"Notify {event} ({channel}): {job.name}"[:200],
            handler=HANDLER,
            payload={
                "channel": channel,
                "event": event,
                "job_id": str(job.pk),
                "execution_id": execution.pk,
                "attempt": execution.attempt,
                "state": execution.state,
                "error": execution.error[:2000],
                "at": now.isoformat(),
            },
            schedule_type=ScheduleType.ONCE,
            run_at=now,
            next_run_at=now,
            queue=settings.NOTIFICATION_QUEUE or job.queue,
            priority=job.priority,
            max_retries=MAX_RETRIES,
            retry_backoff_seconds=RETRY_BACKOFF_SECONDS,
            state=JobState.ACTIVE,
        )
        planned = [(notification, when) for when in engine.occurrences_due(notification, now=now)]
        notification.save(force_insert=True)
        engine.occurrences_queue(planned, now=now)
        created.append(notification)
    return created
