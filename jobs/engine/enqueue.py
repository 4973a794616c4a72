"""Enqueue: new jobs, the first attempt of those already due, their audit events and the
workers' wake-up, written by one statement (queries.sql: enqueue).

The web runs it on Django's cursor, inside the caller's transaction when there is one (so
application code can enqueue with its own writes); the worker runs it on its own connection
to queue notifications in the transaction that records an outcome.
"""

import json
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS

from .. import audit
from ..models import Job
from . import queries, wakeup

# The job columns the statement writes, each from the model's attribute of that name.
JOB_COLUMNS = (
    "id",
    "owner_id",
    "name",
    "handler",
    "payload",
    "schedule_type",
    "run_at",
    "interval_seconds",
    "cron",
    "timezone",
    "queue",
    "priority",
    "max_retries",
    "retry_backoff_seconds",
    "timeout_seconds",
    "misfire_policy",
    "unique_key",
    "notify_on",
    "notify_emails",
    "notify_webhook_url",
    "notify_webhook_secret",
    "notify_digest_minutes",
    "state",
    "next_run_at",
    "last_run_at",
    "concurrency_key",
    "concurrency_limit",
)
JSON_COLUMNS = frozenset({"payload", "notify_on", "notify_emails"})


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def jobs_insert(
    cursor,
    jobs: list[Job],
    runs: list[tuple[Job, datetime]],
    *,
    now: datetime,
    changes: dict | None,
) -> None:
    """Write unsaved `jobs` and the first attempts `runs` (job, when) on `cursor`; with
    `changes`, one audit event per job by the current actor. Wakes the queues that got a
    run, and re-reads of the next due time where a job has a later next run."""
    params = {
        column: [_json(getattr(job, column)) for job in jobs]
        if column in JSON_COLUMNS
        else [getattr(job, column) for job in jobs]
        for column in JOB_COLUMNS
    }
    notify = [wakeup.payload(wakeup.QUEUED, queue) for queue in {j.queue for j, _ in runs}]
    if any(job.next_run_at is not None for job in jobs):
        notify += [wakeup.payload(wakeup.SCHEDULE, queue) for queue in {j.queue for j in jobs}]
    actor = audit.current_actor() if changes is not None else audit.SYSTEM
    queries.run(
        cursor,
        "enqueue",
        now=now,
        **params,
        run_job_id=[job.pk for job, _ in runs],
        run_scheduled_for=[when for _, when in runs],
        run_queue=[job.queue for job, _ in runs],
        run_priority=[job.priority for job, _ in runs],
        audited=changes is not None,
        actor_id=actor.user_id,
        actor=actor.name,
        via=actor.via,
        ip=actor.ip,
        changes=_json(changes or {}),
        notify=notify,
    )
    for job in jobs:
        job.created_at = job.updated_at = now
        # Saved: as the ORM leaves an instance it has written (Model._state, documented).
        job._state.adding = False
        job._state.db = DEFAULT_DB_ALIAS
