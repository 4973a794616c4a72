"""Enqueue: new jobs, the first attempt of those already due, their audit events and the
workers' wake-up, written by one statement (queries.sql: enqueue), or for a bulk enqueue
streamed with COPY (jobs_copy).

The web runs it on Django's cursor, inside the caller's transaction when there is one (so
application code can enqueue with its own writes); the worker runs it on its own connection
to queue notifications in the transaction that records an outcome.
"""

import json
from datetime import datetime
from operator import attrgetter
from uuid import UUID

from django.core.serializers.json import DjangoJSONEncoder

from .. import audit, database
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
    "trace_context",
)
JSON_COLUMNS = frozenset({"payload", "notify_on", "notify_emails", "trace_context"})
_ID, _PAYLOAD = JOB_COLUMNS.index("id"), JOB_COLUMNS.index("payload")
_JSON_POSITIONS = tuple(i for i, column in enumerate(JOB_COLUMNS) if column in JSON_COLUMNS)
_job_values = attrgetter(*JOB_COLUMNS)
_ENCODER = DjangoJSONEncoder()


def _json(value) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder)


def _rows_json(rows: list[dict]) -> str:
    """Rows as JSON for jsonb_populate_recordset: times in full (DjangoJSONEncoder would cut
    them to milliseconds), anything else as DjangoJSONEncoder writes it (ids as text)."""
    return json.dumps(rows, default=_row_value)


def _row_value(value):
    return value.isoformat() if isinstance(value, datetime) else _ENCODER.default(value)


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
    actor = audit.current_actor() if changes is not None else audit.SYSTEM
    queries.run(
        cursor,
        "enqueue",
        now=now,
        jobs=_rows_json([dict(zip(JOB_COLUMNS, _job_values(job), strict=True)) for job in jobs]),
        runs=_rows_json([{"job_id": job.pk, "scheduled_for": when} for job, when in runs]),
        audited=changes is not None,
        actor_id=actor.user_id,
        actor=actor.name,
        via=actor.via,
        ip=actor.ip,
        changes=_json(changes or {}),
        notify=_wake_ups(jobs, runs),
    )
    _saved(jobs, now)


def jobs_copy(
    cursor,
    job: Job,
    ids: list[UUID],
    payloads: list[str],
    *,
    runs_at: list[datetime],
    now: datetime,
    changes: dict,
) -> None:
    """Write one copy of the unsaved `job` per id in `ids`, each with its payload (JSON
    text, in the order of `ids`), their first attempts at `runs_at` and one audit event
    each by the current actor. Streamed with COPY: four round trips whatever the count, so
    run it inside a transaction."""
    row = list(_job_values(job))
    for position in _JSON_POSITIONS:
        row[position] = _json(row[position])
    row += (now, now)
    with queries.copy(cursor, "copy_jobs") as copy:
        for job_id, payload in zip(ids, payloads, strict=True):
            row[_ID], row[_PAYLOAD] = job_id, payload
            copy.write_row(row)
    with queries.copy(cursor, "copy_executions") as copy:
        for when in runs_at:
            attempt = (when, 1, "queued", job.queue, job.priority, when)
            attempt += (job.concurrency_key, job.concurrency_limit, False, "", "", "", now)
            for job_id in ids:
                copy.write_row((job_id, *attempt))
    actor = audit.current_actor()
    event = (now, actor.user_id, actor.name, actor.via, actor.ip, "create", "job")
    owned = (job.owner_id, _json(changes))
    with queries.copy(cursor, "copy_audit") as copy:
        for job_id in ids:
            copy.write_row((*event, str(job_id), *owned))
    queries.run(
        cursor,
        "enqueue_copied",
        now=now,
        queue=[job.queue],
        notify=_wake_ups([job], [(job, when) for when in runs_at]),
    )


def _wake_ups(jobs: list[Job], runs: list[tuple[Job, datetime]]) -> list[str]:
    """The NOTIFY payloads of an enqueue: the queues that got a run, and a re-read of the
    next due time where a job has a later next run."""
    notify = [wakeup.payload(wakeup.QUEUED, queue) for queue in {j.queue for j, _ in runs}]
    if any(job.next_run_at is not None for job in jobs):
        notify += [wakeup.payload(wakeup.SCHEDULE, queue) for queue in {j.queue for j in jobs}]
    return notify


def _saved(jobs: list[Job], now: datetime) -> None:
    written_to = database.alias()
    for job in jobs:
        job.created_at = job.updated_at = now
        # Saved: as the ORM leaves an instance it has written (Model._state, documented).
        job._state.adding = False
        job._state.db = written_to
