"""Materialise: turn due schedules into queued first attempts, on any worker, no leader.

The due jobs are locked with SKIP LOCKED (another worker takes others), their occurrences
planned here (croniter, the misfire policy, the DST rule live in jobs.schedules), and queued
with the jobs' new next run in one statement; the unique (job, scheduled_for, attempt) key
makes an occurrence queued twice a no-op.
"""

from datetime import datetime, timedelta

from django.utils import timezone
from psycopg.rows import namedtuple_row

from .. import conf
from ..schedules import Schedule, plan_due
from . import queries

BATCH = 500  # jobs locked per materialise transaction


def occurrences_due(job, *, now: datetime) -> list[datetime]:
    """Plan the due occurrences of a due Job, advance its next_run_at and last_run_at (in
    memory), and return when they fall."""
    plan = _plan(job, now=now)
    job.next_run_at = plan.next_run_at
    if plan.occurrences:
        job.last_run_at = plan.occurrences[-1]
    return plan.occurrences


def _plan(job, *, now: datetime):
    return plan_due(
        Schedule.of(job),
        misfire_policy=job.misfire_policy,
        next_run_at=job.next_run_at,
        now=now,
        grace=timedelta(seconds=conf.MISFIRE_GRACE_SECONDS),
    )


def queue_params(advanced: list[tuple], planned: list[tuple], *, now: datetime) -> dict:
    """The queue_occurrences parameters: `advanced` (job id, next run, last run) and
    `planned` first attempts (job id, when, queue, priority)."""
    return {
        "now": now,
        "job_id": [row[0] for row in advanced],
        "next_run_at": [row[1] for row in advanced],
        "last_run_at": [row[2] for row in advanced],
        "run_job_id": [row[0] for row in planned],
        "run_scheduled_for": [row[1] for row in planned],
        "run_queue": [row[2] for row in planned],
        "run_priority": [row[3] for row in planned],
    }


def job_queue_due(cursor, job, *, now: datetime) -> int:
    """Queue the due occurrences of a saved, due Job on `cursor` (the web's path, in the
    caller's transaction); advance its next run. Return how many were queued."""
    when = occurrences_due(job, now=now)
    planned = [(job.pk, at, job.queue, job.priority) for at in when]
    advanced = [(job.pk, job.next_run_at, job.last_run_at)]
    queries.run(cursor, "queue_occurrences", **queue_params(advanced, planned, now=now))
    return len(planned)


def jobs_materialise(conn, *, now: datetime | None = None, batch: int = BATCH) -> int:
    """Queue executions for due active jobs on the worker's connection `conn`; return how
    many were queued."""
    now = now or timezone.now()
    with conn.transaction(), conn.cursor(row_factory=namedtuple_row) as cursor:
        jobs = queries.run(cursor, "due_jobs", now=now, limit=batch).fetchall()
        if not jobs:
            return 0
        advanced, planned = [], []
        for job in jobs:
            plan = _plan(job, now=now)
            last = plan.occurrences[-1] if plan.occurrences else job.last_run_at
            advanced.append((job.id, plan.next_run_at, last))
            planned += [(job.id, at, job.queue, job.priority) for at in plan.occurrences]
        queries.run(cursor, "queue_occurrences", **queue_params(advanced, planned, now=now))
    return len(planned)


def next_job_due(conn) -> datetime | None:
    """Return when the next active job falls due."""
    row = queries.run(conn.cursor(), "next_due").fetchone()
    return row[0] if row else None
