"""The engine's SQL: materialise, claim, complete, fail, rescue, release.

Everything that decides whether a job runs once and only once lives here, top to bottom.
Every state change is a conditional UPDATE (`... WHERE state = 'running' AND worker_id = %s`),
so a late writer (a worker whose lease lapsed, a second rescuer) changes nothing.
"""

import functools
import json
import logging
import random
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models.base import Model, ModelState
from django.db.models.functions import Now
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from . import notifications, signals, statements, wakeup
from .models import SCHEDULE_FIELDS, Execution, Job, Worker
from .schedules import Schedule, plan_due
from .states import (
    HELD_EXECUTION_STATES,
    ExecutionState,
    JobState,
    ScheduleType,
    job_allows,
    job_sources,
)

logger = logging.getLogger("jobs.engine")

MATERIALISE_BATCH = 500  # jobs locked per materialise transaction
RESCUE_BATCH = 100  # executions rescued per transaction
# What planning a job's occurrences reads: materialising loads no more of each job.
PLAN_FIELDS = (
    *SCHEDULE_FIELDS,
    "misfire_policy",
    "next_run_at",
    "last_run_at",
    "queue",
    "priority",
)


def log_fields(execution: Execution, **more) -> dict:
    """The fields every engine log line carries, for structured logging."""
    return {
        "job_id": str(execution.job_id),
        "execution_id": execution.pk,
        "attempt": execution.attempt,
        **more,
    }


def backoff_seconds(*, base: int, attempt: int, cap: int | None = None) -> float:
    """Return the delay before `attempt + 1`: exponential in `attempt`, capped, with jitter.

    The jitter only lengthens the delay (by up to a quarter) so that jobs which failed
    together spread out, while a retry never comes sooner than the nominal backoff.
    """
    cap = settings.RETRY_BACKOFF_MAX_SECONDS if cap is None else cap
    nominal = min(cap, base * 2 ** (attempt - 1))
    return min(cap, nominal * (1 + random.random() / 4))


# --- Materialise ------------------------------------------------------------------------


def occurrences_due(job: Job, *, now: datetime) -> list[datetime]:
    """Plan the due occurrences of a locked, due `job`, advance its next_run_at, and return
    when they fall."""
    plan = plan_due(
        Schedule.of(job),
        misfire_policy=job.misfire_policy,
        next_run_at=job.next_run_at,
        now=now,
        grace=timedelta(seconds=settings.MISFIRE_GRACE_SECONDS),
    )
    job.next_run_at = plan.next_run_at
    if plan.occurrences:
        job.last_run_at = plan.occurrences[-1]
    return plan.occurrences


def occurrences_plan(job: Job, *, now: datetime) -> list[Execution]:
    """The due occurrences of `job` as unsaved executions (see occurrences_due)."""
    return [occurrence(job, when, now=now) for when in occurrences_due(job, now=now)]


def occurrence(job: Job, when: datetime, *, now: datetime) -> Execution:
    """An unsaved first attempt of `job` falling at `when`, planned at `now`."""
    return Execution(
        job=job,
        scheduled_for=when,
        attempt=1,
        queue=job.queue,
        priority=job.priority,
        run_after=when,
        created_at=now,
    )


def occurrences_queue(planned: list[tuple[Job, datetime]], *, now: datetime) -> None:
    """Insert the planned (job, when) occurrences and wake their queues' workers at commit."""
    if not planned:
        return
    # The unique (job, scheduled_for, attempt) key turns a duplicate occurrence into a
    # no-op, even if two hosts somehow got here for the same job.
    if connection.vendor == "postgresql":
        _insert_occurrences(planned, now=now)
    else:
        rows = [occurrence(job, when, now=now) for job, when in planned]
        Execution.objects.bulk_create(rows, ignore_conflicts=True)
    for queue in {job.queue for job, _ in planned}:
        wakeup.queued(queue)


def _insert_occurrences(planned: list[tuple[Job, datetime]], *, now: datetime) -> None:
    # One INSERT over arrays, from the jobs themselves: building an Execution for each of
    # thousands of occurrences cost more than the database takes to insert them.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Execution._meta.db_table} (job_id, scheduled_for, attempt, state,
                queue, priority, run_after, cancel_requested, error, traceback, created_at)
            SELECT job_id, scheduled_for, 1, %s, queue, priority, scheduled_for, false, '', '', %s
            FROM unnest(%s::uuid[], %s::timestamptz[], %s::text[], %s::smallint[])
                AS v(job_id, scheduled_for, queue, priority)
            ON CONFLICT DO NOTHING
            """,
            [
                ExecutionState.QUEUED,
                now,
                [job.pk for job, _ in planned],
                [when for _, when in planned],
                [job.queue for job, _ in planned],
                [job.priority for job, _ in planned],
            ],
        )


def job_materialise(job: Job, *, now: datetime) -> int:
    """Queue the due occurrences of a locked, due `job`, advance its next_run_at, and return
    how many were queued."""
    planned = [(job, when) for when in occurrences_due(job, now=now)]
    occurrences_queue(planned, now=now)
    return len(planned)


def jobs_materialise(*, now: datetime | None = None, batch: int = MATERIALISE_BATCH) -> int:
    """Queue executions for due active jobs; return how many were queued."""
    now = now or timezone.now()
    with transaction.atomic():
        # SKIP LOCKED: workers on other hosts take other jobs instead of waiting on these.
        jobs = list(
            Job.objects.due(now=now)
            .select_for_update(skip_locked=True)
            .order_by("next_run_at")
            .only(*PLAN_FIELDS)[:batch]
        )
        planned = [(job, when) for job in jobs for when in occurrences_due(job, now=now)]
        occurrences_queue(planned, now=now)
        if jobs:
            _advance(jobs)
    return len(planned)


def _advance(jobs: list[Job]) -> None:
    """Write the jobs' new next_run_at and last_run_at."""
    if connection.vendor != "postgresql":
        Job.objects.bulk_update(jobs, ["next_run_at", "last_run_at"])
        return
    # One statement over arrays: bulk_update's CASE expressions cost more than the rest of
    # materialising together.
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Job._meta.db_table} AS job
            SET next_run_at = v.next_run_at, last_run_at = v.last_run_at
            FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[])
                AS v(id, next_run_at, last_run_at)
            WHERE job.id = v.id
            """,
            [
                [job.pk for job in jobs],
                [job.next_run_at for job in jobs],
                [job.last_run_at for job in jobs],
            ],
        )


def next_job_due() -> datetime | None:
    """Return when the next active job falls due (read through the partial index)."""
    return (
        Job.objects.filter(state=JobState.ACTIVE, next_run_at__isnull=False)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )


# --- Claim ------------------------------------------------------------------------------


def _columns(model, prefix: str) -> str:
    return ", ".join(f'{prefix}."{f.column}"' for f in model._meta.concrete_fields)


def _instance(model, values):
    """Build a model instance from raw column values, converted as the ORM would.

    As Model.from_db does, but setting the attributes at once rather than through
    Model.__init__, which for the 45 columns of a claimed row and its job cost more than the
    claim's round trip. Models with init signals connected, or an __init__ or from_db of
    their own, get the ORM's way.
    """
    db = connections[DEFAULT_DB_ALIAS]
    names, converters, plain = _loading(model)
    values = list(values)
    for index, convert in converters:
        values[index] = convert(values[index], None, db)
    if not plain or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model.from_db(DEFAULT_DB_ALIAS, None, values)
    obj = model.__new__(model)
    obj.__dict__.update(zip(names, values, strict=True))
    obj._state = ModelState()
    obj._state.adding, obj._state.db = False, DEFAULT_DB_ALIAS
    return obj


@functools.cache
def _loading(model) -> tuple[tuple, tuple, bool]:
    """The attribute names of `model`'s columns, (position, from_db_value) of the fields that
    convert their value, and whether the model loads as any model does (no __init__ or
    from_db of its own, which setting the attributes directly would skip)."""
    fields = model._meta.concrete_fields
    converters = tuple(
        (index, field.from_db_value)
        for index, field in enumerate(fields)
        if hasattr(field, "from_db_value")
    )
    plain = model.__init__ is Model.__init__ and model.from_db.__func__ is Model.from_db.__func__
    return tuple(field.attname for field in fields), converters, plain


def executions_claim(*, worker: Worker, queues: list[str], limit: int) -> list[Execution]:
    """Mark up to `limit` due executions of `queues` running for `worker` and return them."""
    if limit <= 0 or not queues:
        return []
    now = timezone.now()
    table = Execution._meta.db_table
    postgres = connection.vendor == "postgresql"
    queue_params = ", ".join(["%s"] * len(queues))
    # One statement, so one short transaction of its own: the subquery picks and locks the
    # rows (other workers skip them), the UPDATE marks them ours. SQLite, which has no row
    # locks, runs the statement under its database write lock.
    # The states and the limit are written into the SQL, not passed: a prepared statement's
    # generic plan can use the partial index (WHERE state = 'queued') only when it sees the
    # constant, and is only as cheap as a custom one when it knows how few rows come back.
    claim = f"""
        UPDATE {table} SET state = '{ExecutionState.RUNNING}', worker_id = %s, started_at = %s
        WHERE id IN (
            SELECT id FROM {table}
            WHERE state = '{ExecutionState.QUEUED}' AND queue IN ({queue_params})
                AND run_after <= %s
            ORDER BY priority DESC, run_after, id
            LIMIT {int(limit)}{" FOR UPDATE SKIP LOCKED" if postgres else ""}
        )
        RETURNING {_columns(Execution, table) if postgres else "id"}
    """
    params = [worker.pk, now, *queues, now]
    if postgres:
        # The hot path: claim and read the jobs in one round trip.
        job_table = Job._meta.db_table
        width = len(Execution._meta.concrete_fields)
        sql = f"""
            WITH claimed AS ({claim})
            SELECT claimed.*, {_columns(Job, "job")}
            FROM claimed JOIN {job_table} AS job ON job.id = claimed.job_id
        """
        # Bound on the server: the same few claim statements, prepared once per connection.
        with statements.bound_cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        claimed = []
        for row in rows:
            execution = _instance(Execution, row[:width])
            Execution.job.field.set_cached_value(execution, _instance(Job, row[width:]))
            claimed.append(execution)
    else:
        with connection.cursor() as cursor:
            cursor.execute(claim, params)
            ids = [row[0] for row in cursor.fetchall()]
        claimed = list(Execution.objects.select_related("job").filter(pk__in=ids)) if ids else []
    claimed.sort(key=lambda e: (-e.priority, e.run_after, e.pk))
    return claimed


# --- Complete ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """How one claimed execution ended in the worker."""

    execution: Execution
    state: str  # succeeded, failed (retry or dead is decided here) or cancelled
    result: object = None
    error: str = ""
    traceback: str = ""


def outcomes_record(*, worker: Worker, outcomes: list[Outcome]) -> None:
    """Record the outcomes of executions `worker` ran."""
    now = timezone.now()
    successes = [o for o in outcomes if o.state == ExecutionState.SUCCEEDED]
    if successes:
        _record_successes(successes, worker=worker, now=now)
    for outcome in outcomes:
        if outcome.state == ExecutionState.CANCELLED:
            _record_cancelled(outcome, worker=worker, now=now)
        elif outcome.state == ExecutionState.FAILED:
            execution_fail(
                execution=outcome.execution,
                worker=worker,
                error=outcome.error,
                traceback=outcome.traceback,
                now=now,
            )


def _held(execution: Execution, worker: Worker | None):
    rows = Execution.objects.filter(pk=execution.pk, state__in=HELD_EXECUTION_STATES)
    return rows.filter(worker=worker) if worker is not None else rows


def _is_own_occurrence(execution: Execution) -> bool:
    """Whether this is the scheduled run of a one-time job (not a manual trigger)."""
    job = execution.job
    return job.schedule_type == ScheduleType.ONCE and execution.scheduled_for == job.run_at


def _record_successes(outcomes: list[Outcome], *, worker: Worker, now: datetime) -> None:
    """Mark a batch of executions succeeded, and their one-time jobs completed, at once."""
    postgres = connection.vendor == "postgresql"
    # The one-time jobs whose own run this was complete, from active or paused (a job paused
    # while its run was in flight would otherwise stay paused, waiting on that run forever).
    completing = [o.execution.pk for o in outcomes if _is_own_occurrence(o.execution)]
    if postgres:
        update, params = _successes_statement(outcomes, completing, worker=worker, now=now)
        completing = []  # done by the statement
    else:
        update, params = _successes_update(outcomes, worker=worker, now=now)
    # Notifications are queued in the transaction that records the outcome. Without them
    # (the usual case) one statement is a transaction of its own.
    extras = [o for o in outcomes if _wants_success_events(o.execution.job)]
    needs_transaction = bool(completing or extras)
    with transaction.atomic() if needs_transaction else nullcontext():
        # Bound on the server: one statement text for every batch, prepared once.
        with statements.bound_cursor() if postgres else connection.cursor() as cursor:
            cursor.execute(update, params)
            rows = cursor.fetchall()
        recorded = {row[0] for row in rows}
        # Execution id -> the state its job left for completed, for the jobs that changed.
        completed = {row[0]: row[2] for row in rows if len(row) > 2 and row[2] is not None}
        done_jobs = [
            o.execution.job_id
            for o in outcomes
            if o.execution.pk in recorded and o.execution.pk in completing
        ]
        if done_jobs:
            # SQLite: this transaction holds the database's write lock, so the jobs read
            # here are the ones the UPDATE changes.
            sources = job_sources(JobState.COMPLETED)
            before = dict(
                Job.objects.filter(pk__in=done_jobs, state__in=sources).values_list("pk", "state")
            )
            Job.objects.filter(pk__in=before).update(state=JobState.COMPLETED, updated_at=now)
            for o in outcomes:
                if o.execution.pk in recorded and o.execution.job_id in before:
                    completed[o.execution.pk] = before[o.execution.job_id]
        for outcome in outcomes:
            if outcome.execution.pk in recorded:
                _after_success(outcome, now=now, job_before=completed.get(outcome.execution.pk))
    for outcome in outcomes:
        if outcome.execution.pk not in recorded:
            # Rescued by another worker after our lease lapsed: its decision stands.
            logger.warning(
                "Execution no longer held, result dropped execution_id=%s job_id=%s",
                outcome.execution.pk,
                outcome.execution.job_id,
                extra=log_fields(outcome.execution, worker=worker.name),
            )


def _successes_statement(outcomes, completing, *, worker, now) -> tuple[str, list]:
    """PostgreSQL: one statement (its own transaction) marks the executions succeeded and
    completes the one-time jobs whose own run this was, provided it still found the
    execution ours. The batch travels as arrays, so the SQL is the same for any batch.

    `finishing` locks the jobs (waiting out a concurrent change, then re-reading it), so
    each row that comes back names the state its job really left.
    """
    table, job_table = Execution._meta.db_table, Job._meta.db_table
    held = ", ".join(f"'{state}'" for state in sorted(HELD_EXECUTION_STATES))
    sources = ", ".join(f"'{state}'" for state in sorted(job_sources(JobState.COMPLETED)))
    sql = f"""
        WITH done AS (
            UPDATE {table} AS execution
            SET state = '{ExecutionState.SUCCEEDED}', finished_at = %s, result = batch.result
            FROM unnest(%s::bigint[], %s::jsonb[]) AS batch(id, result)
            WHERE execution.id = batch.id AND execution.state IN ({held})
                AND execution.worker_id = %s
            RETURNING execution.id, execution.job_id
        ), finishing AS (
            SELECT id, state FROM {job_table}
            WHERE id IN (SELECT job_id FROM done WHERE id = ANY(%s::bigint[]))
                AND state IN ({sources})
            FOR NO KEY UPDATE
        ), completed AS (
            UPDATE {job_table} AS job SET state = '{JobState.COMPLETED}', updated_at = %s
            FROM finishing WHERE job.id = finishing.id
            RETURNING job.id, finishing.state
        )
        SELECT done.id, done.job_id, completed.state
        FROM done LEFT JOIN completed ON completed.id = done.job_id
    """
    results = [None if o.result is None else json.dumps(o.result) for o in outcomes]
    ids = [o.execution.pk for o in outcomes]
    return sql, [now, ids, results, worker.pk, completing, now]


def _successes_update(outcomes, *, worker, now) -> tuple[str, list]:
    """Other databases: the executions' UPDATE; the jobs are completed after it."""
    cases, case_params, ids = [], [], []
    for outcome in outcomes:
        ids.append(outcome.execution.pk)
        if outcome.result is not None:
            cases.append("WHEN %s THEN %s")
            case_params += [outcome.execution.pk, json.dumps(outcome.result)]
    result_sql = f"CASE id {' '.join(cases)} ELSE NULL END" if cases else "NULL"
    held = ", ".join(["%s"] * len(HELD_EXECUTION_STATES))
    sql = f"""
        UPDATE {Execution._meta.db_table} SET state = %s, finished_at = %s, result = {result_sql}
        WHERE id IN ({", ".join(["%s"] * len(ids))}) AND state IN ({held}) AND worker_id = %s
        RETURNING id, job_id
    """
    params = [ExecutionState.SUCCEEDED, now, *case_params, *ids, *HELD_EXECUTION_STATES, worker.pk]
    return sql, params


def _wants_success_events(job: Job) -> bool:
    return notifications.wants(job, "success") or notifications.wants(job, "recovered")


def _recovered(execution: Execution) -> bool:
    """Whether this success follows a failure: of an earlier attempt or the last occurrence."""
    if execution.attempt > 1:
        return True
    previous = (
        Execution.objects.filter(job_id=execution.job_id, scheduled_for__lt=execution.scheduled_for)
        .order_by("-scheduled_for", "-attempt")
        .values_list("state", flat=True)
        .first()
    )
    return previous == ExecutionState.DEAD


def _after_success(outcome: Outcome, *, now: datetime, job_before: str | None) -> None:
    """Events of a recorded success: notifications (in this transaction), then signals.

    `job_before` is the state the job left for completed, None when the job did not change.
    """
    execution = outcome.execution
    execution.state, execution.finished_at, execution.result = (
        ExecutionState.SUCCEEDED,
        now,
        outcome.result,
    )
    job = execution.job
    if _wants_success_events(job):
        notifications.queue(execution, "success", now=now)
        if notifications.wants(job, "recovered") and _recovered(execution):
            notifications.queue(execution, "recovered", now=now)
    signals.send_after_commit(signals.execution_succeeded, Execution, execution=execution)
    if job_before is not None and _is_own_occurrence(execution):
        job.state = JobState.COMPLETED
        signals.send_after_commit(
            signals.job_state_changed, Job, job=job, before=job_before, after=job.state
        )


def _record_cancelled(outcome: Outcome, *, worker, now) -> None:
    execution = outcome.execution
    _held(execution, worker).update(
        state=ExecutionState.CANCELLED, finished_at=now, error=outcome.error or "Cancelled."
    )


def execution_fail(
    *, execution: Execution, worker: Worker | None, error: str, traceback: str = "", now=None
) -> Execution | None:
    """Record a failed attempt; queue the next one, or dead-letter it when none is left.

    The attempt of a job that takes no new attempt (cancelled) ends cancelled instead: no
    retry, no dead letter. A paused job's attempt is retried as usual (see JOB_ACTIONS).
    Returns the queued retry, or None when none was queued (or the attempt was not ours).
    """
    now = now or timezone.now()
    job = execution.job
    with transaction.atomic():
        # The job's state as it is now, locked until commit: a cancel that committed is
        # seen here, one not yet committed waits and then cancels the retry queued here.
        job_state = (
            Job.objects.select_for_update(no_key=True)
            .filter(pk=job.pk)
            .values_list("state", flat=True)
            .first()
        )
        if not job_allows(job_state, "retry"):
            state, error = ExecutionState.CANCELLED, f"Job {job_state}, not retried. {error}"
        elif execution.attempt >= job.max_retries + 1:
            state = ExecutionState.DEAD
        else:
            state = ExecutionState.FAILED
        updated = _held(execution, worker).update(
            state=state, finished_at=now, error=error, traceback=traceback
        )
        if not updated:
            logger.warning(
                "Execution no longer held, failure dropped execution_id=%s job_id=%s",
                execution.pk,
                execution.job_id,
                extra=log_fields(execution, worker=worker.name if worker else None),
            )
            return None
        execution.state = state
        execution.finished_at, execution.error, execution.traceback = now, error, traceback
        if state == ExecutionState.CANCELLED:
            return None
        dead = state == ExecutionState.DEAD
        notifications.queue(execution, "dead" if dead else "failure", now=now)
        signals.send_after_commit(
            signals.execution_dead if dead else signals.execution_failed,
            Execution,
            execution=execution,
        )
        if dead:
            # From active or paused, like completing: see _record_successes.
            if _is_own_occurrence(execution) and Job.objects.filter(
                pk=job.pk, state__in=job_sources(JobState.FAILED)
            ).update(state=JobState.FAILED, updated_at=now):
                job.state = JobState.FAILED
                signals.send_after_commit(
                    signals.job_state_changed, Job, job=job, before=job_state, after=job.state
                )
            return None
        delay = backoff_seconds(base=job.retry_backoff_seconds, attempt=execution.attempt)
        retry = Execution.objects.create(
            job=job,
            scheduled_for=execution.scheduled_for,
            attempt=execution.attempt + 1,
            queue=execution.queue,
            priority=execution.priority,
            run_after=now + timedelta(seconds=delay),
            created_at=now,
        )
        wakeup.queued(execution.queue)
        return retry


# --- Heartbeat, rescue, release ---------------------------------------------------------


def worker_heartbeat(*, worker: Worker) -> dict[int, bool]:
    """Extend `worker`'s lease; return what the database says it holds: id -> cancel asked.

    The worker compares this with what it runs: a claim whose reply was lost (the database
    went away mid-statement) shows up here and is released instead of stuck running.
    """
    # The database's clock, not this host's: another host judges the lease, by the same
    # clock (executions_rescue_stale), so skewed host clocks neither rescue early nor late.
    Worker.objects.filter(pk=worker.pk).update(heartbeat_at=Now())
    return dict(
        Execution.objects.filter(worker=worker, state__in=HELD_EXECUTION_STATES).values_list(
            "pk", "cancel_requested"
        )
    )


def executions_rescue_stale(*, now: datetime | None = None, batch: int = RESCUE_BATCH) -> int:
    """Fail the attempts held by workers whose lease lapsed, queueing their retries."""
    now = now or timezone.now()
    # Judged by the database's clock, which wrote the heartbeats (see worker_heartbeat).
    before = Now() - timedelta(seconds=settings.WORKER_LEASE_SECONDS)
    with transaction.atomic():
        stale = list(
            Execution.objects.held_by_stale_workers(before=before)
            .select_related("job")
            .select_for_update(skip_locked=True, of=("self",))[:batch]
        )
        for execution in stale:
            logger.warning(
                "Rescuing execution from a lost worker execution_id=%s job_id=%s attempt=%s "
                "worker_id=%s",
                execution.pk,
                execution.job_id,
                execution.attempt,
                execution.worker_id,
                extra=log_fields(execution, worker_id=execution.worker_id),
            )
            execution_fail(
                execution=execution,
                worker=None,
                error=f"Worker lost: no heartbeat for {settings.WORKER_LEASE_SECONDS:g} s.",
                now=now,
            )
    return len(stale)


def executions_release(*, worker: Worker, ids: list[int]) -> int:
    """Put executions `worker` still holds back in the queue, as if never claimed.

    Those asked to stop (cancelled, or their job cancelled) end cancelled instead: back in
    the queue they would run again. Returns how many went back to the queue.
    """
    now = timezone.now()
    held = Execution.objects.filter(pk__in=ids, worker=worker, state__in=HELD_EXECUTION_STATES)
    with transaction.atomic():
        # Release first: the rows it queues stay locked until commit, so a cancel asked
        # meanwhile waits and then finds them queued; a row it skips as asked to stop is
        # still held, for the second UPDATE.
        released = held.filter(cancel_requested=False).update(
            state=ExecutionState.QUEUED, worker=None, started_at=None, run_after=now
        )
        cancelled = held.filter(cancel_requested=True).update(
            state=ExecutionState.CANCELLED, finished_at=now, error="Cancelled before it finished."
        )
        if cancelled:
            logger.info(
                "Cancelled %d executions asked to stop instead of releasing them",
                cancelled,
                extra={"worker": worker.name},
            )
        for queue in set(Execution.objects.filter(pk__in=ids).values_list("queue", flat=True)):
            wakeup.queued(queue)
    return released


def worker_stop(*, worker: Worker) -> None:
    """Mark `worker` stopped."""
    Worker.objects.filter(pk=worker.pk).update(stopped_at=timezone.now())
