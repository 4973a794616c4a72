"""Enqueue jobs from Django code, inside the caller's transaction.

    import jobs

    with transaction.atomic():
        order = Order.objects.create(...)
        jobs.enqueue("email", {"to": [order.email], "subject": "Thanks", "body": "..."},
                     unique_key=f"order-mail:{order.pk}")

The job row is written on the caller's connection, in the caller's transaction: it exists
only if that transaction commits, and workers are woken (NOTIFY) at the commit (unless the
scheduler has a database of its own, SCHEDULER_DATABASE_URL: then it commits there at once).
With a `unique_key`, enqueueing is idempotent while a job with that key is active or paused:
the existing job is returned instead of a second one, even when two transactions race (the
partial unique constraint decides, and the loser's insert is rolled back to a savepoint).
With `debounce_seconds` as well, a burst of the same request runs once, after it settles:
each enqueue replaces the pending job's payload and pushes its run back to that many
seconds from now, until its run has started.
"""

from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError
from django.utils import timezone

from . import database
from .exceptions import ValidationError
from .models import DEFAULT_QUEUE, Job
from .services import job_create, job_update, jobs_create_many
from .states import ExecutionState, JobState, MisfirePolicy, ScheduleType

UNIQUE_KEY_CONSTRAINT = "job_unique_key_while_pending"


def enqueue(
    handler: str,
    payload: dict | None = None,
    *,
    run_at: datetime | timedelta | None = None,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    owner=None,
    unique_key: str | None = None,
    debounce_seconds: float | None = None,
    name: str | None = None,
    max_retries: int | None = None,
    retry_backoff_seconds: int | None = None,
    timeout_seconds: int | None = None,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
) -> Job:
    """Create a one-time job of `handler` that runs at `run_at` (now if None); return it.

    `run_at` may be a datetime or a delay from now. With `concurrency_key`, at most
    `concurrency_limit` jobs of that key run at once across the fleet. With `unique_key`
    and `debounce_seconds`, see the module's docstring. Raises
    jobs.exceptions.ValidationError for an unknown handler or a payload its schema refuses.
    """
    now = timezone.now()
    if debounce_seconds is not None:
        if unique_key is None or run_at is not None or debounce_seconds < 0:
            raise ValidationError(
                {"debounce_seconds": ["Needs a unique_key, no run_at, and 0 seconds or more."]}
            )
        run_at = timedelta(seconds=debounce_seconds)
    run_at = _when(run_at, now=now)
    fields = {
        "name": name or handler,
        "handler": handler,
        "payload": {} if payload is None else payload,
        "schedule_type": ScheduleType.ONCE,
        "run_at": run_at,
        "queue": queue,
        "priority": priority,
        "timeout_seconds": timeout_seconds,
        "concurrency_key": concurrency_key,
        "concurrency_limit": concurrency_limit,
        **_given(max_retries=max_retries, retry_backoff_seconds=retry_backoff_seconds),
    }
    if debounce_seconds is not None:
        debounced = _debounce(unique_key, fields)
        if debounced is not None:
            return debounced
    return _create(owner=owner, unique_key=unique_key, fields=fields)


def enqueue_many(
    handler: str,
    payloads: list[dict],
    *,
    run_at: datetime | timedelta | None = None,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    owner=None,
    name: str | None = None,
    max_retries: int | None = None,
    retry_backoff_seconds: int | None = None,
    timeout_seconds: int | None = None,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
) -> list[UUID]:
    """Create one one-time job of `handler` per payload, all else shared; return their ids
    in the order of `payloads`.

    The rows are streamed to PostgreSQL (COPY), each job audited, in one transaction (a
    savepoint inside the caller's): thousands a call, at the cost of about one enqueue. One
    payload its handler's schema refuses refuses the batch (ValidationError keyed
    `payloads[i]`).
    """
    return jobs_create_many(
        handler=handler,
        payloads=payloads,
        owner=owner,
        name=name,
        run_at=_when(run_at, now=timezone.now()),
        queue=queue,
        priority=priority,
        timeout_seconds=timeout_seconds,
        concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit,
        **_given(max_retries=max_retries, retry_backoff_seconds=retry_backoff_seconds),
    )


def _debounce(unique_key: str, fields: dict) -> Job | None:
    """Give the pending job of `unique_key` the new payload and run time, if its run has
    not started; return it (None when there is no such job to push back)."""
    with database.atomic():
        job = (
            Job.objects.select_for_update()
            .filter(unique_key=unique_key, state__in=[JobState.ACTIVE, JobState.PAUSED])
            .first()
        )
        if job is None:
            return None
        if job.executions.exclude(
            state__in=[ExecutionState.QUEUED, ExecutionState.CANCELLED]
        ).exists():
            return job  # it has started: this request joins the run under way
        return job_update(job=job, payload=fields["payload"], run_at=fields["run_at"])


def schedule(
    handler: str,
    payload: dict | None = None,
    *,
    cron: str | None = None,
    interval: int | float | timedelta | None = None,
    timezone: str = "UTC",
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    owner=None,
    unique_key: str | None = None,
    name: str | None = None,
    misfire_policy: str = MisfirePolicy.RUN_ONCE,
    max_retries: int | None = None,
    retry_backoff_seconds: int | None = None,
    timeout_seconds: int | None = None,
) -> Job:
    """Create a recurring job of `handler`, on a `cron` expression or every `interval` seconds.

    Give exactly one of `cron` (5 fields, 6 with seconds first, or @hourly/@daily/...) and
    `interval` (seconds, or a timedelta). `timezone` is the IANA zone the cron reads in.
    """
    if (cron is None) == (interval is None):
        raise ValidationError({"schedule": ["Give exactly one of cron and interval."]})
    fields = {
        "name": name or handler,
        "handler": handler,
        "payload": {} if payload is None else payload,
        "timezone": timezone,
        "queue": queue,
        "priority": priority,
        "misfire_policy": misfire_policy,
        "timeout_seconds": timeout_seconds,
        **_given(max_retries=max_retries, retry_backoff_seconds=retry_backoff_seconds),
    }
    if cron is not None:
        fields.update(schedule_type=ScheduleType.CRON, cron=cron)
    else:
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else interval
        fields.update(schedule_type=ScheduleType.INTERVAL, interval_seconds=int(seconds))
    return _create(owner=owner, unique_key=unique_key, fields=fields)


def _create(*, owner, unique_key: str | None, fields: dict) -> Job:
    if unique_key is None:
        return job_create(owner=owner, **fields)
    # Two tries: if the job that beat us finished before we could read it, the key is
    # free again and the second insert goes through.
    for _ in range(2):
        existing = _pending_with_key(unique_key)
        if existing is not None:
            return existing
        try:
            # A savepoint: a lost race rolls back this insert only, and the caller's
            # transaction goes on.
            with database.atomic():
                return job_create(owner=owner, unique_key=unique_key, **fields)
        except IntegrityError as exc:
            if not _is_unique_key_violation(exc):
                raise
            # The other transaction committed first (our INSERT waited for it): read its job.
    existing = _pending_with_key(unique_key)
    if existing is None:
        raise IntegrityError(f"Could not enqueue with unique_key={unique_key!r}; try again.")
    return existing


def _pending_with_key(unique_key: str) -> Job | None:
    return Job.objects.filter(
        unique_key=unique_key, state__in=[JobState.ACTIVE, JobState.PAUSED]
    ).first()


def _is_unique_key_violation(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == UNIQUE_KEY_CONSTRAINT


def _given(**values) -> dict:
    """The keyword arguments that were given: the others keep the model's defaults."""
    return {key: value for key, value in values.items() if value is not None}


def _when(run_at: datetime | timedelta | None, *, now: datetime) -> datetime:
    """`run_at` as a time: a delay counts from `now`, and None is now."""
    if run_at is None:
        return now
    return now + run_at if isinstance(run_at, timedelta) else run_at
