"""Complete: how each attempt a worker ran is recorded.

Every state change is a conditional UPDATE on the worker's own connection (queries.sql), so
a late writer (a worker whose lease lapsed, a second rescuer) changes nothing. Django
signals about a change are sent once it commits, with the rows loaded through the ORM, and
only when something listens.
"""

import json
import logging
import random
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from .. import conf, signals
from ..models import Execution, Job
from ..states import ErrorCode, ExecutionState, JobState, job_allows
from . import notifications, queries, workflows
from .rows import ExecutionRow

logger = logging.getLogger("jobs.engine")


def log_fields(execution: ExecutionRow, **more) -> dict:
    """The fields every engine log line carries, for structured logging."""
    return {
        "job_id": str(execution.job_id),
        "execution_id": execution.id,
        "attempt": execution.attempt,
        **more,
    }


def backoff_seconds(*, base: int, attempt: int, cap: int | None = None) -> float:
    """Return the delay before `attempt + 1`: exponential in `attempt`, capped, with jitter.

    The jitter only lengthens the delay (by up to a quarter) so that jobs which failed
    together spread out, while a retry never comes sooner than the nominal backoff.
    """
    cap = conf.RETRY_BACKOFF_MAX_SECONDS if cap is None else cap
    nominal = min(cap, base * 2 ** (attempt - 1))
    return min(cap, nominal * (1 + random.random() / 4))


@dataclass
class Outcome:
    """How one claimed execution ended in the worker."""

    execution: ExecutionRow
    state: str  # succeeded, failed (retry or dead is decided here) or cancelled
    result: object = None
    error: str = ""
    error_code: str = ErrorCode.NONE
    traceback: str = ""
    # When its handler started, if it waited for a slot (claimed ahead): recorded as the
    # attempt's started_at, which until then is the claim's time. None keeps that.
    started_at: datetime | None = None
    # A failed attempt's link for its retry: the first attempt's run span (jobs.tracing).
    trace_link: str = ""


class AfterCommit:
    """Signals to send once the transaction that made their changes commits."""

    def __init__(self):
        self.sends: list[tuple] = []

    def execution(self, signal, execution_id: int) -> None:
        if signal.has_listeners(Execution):
            self.sends.append((signal, Execution, "execution", execution_id, {}))

    def job_state(self, job_id, *, before: str, after: str) -> None:
        if signals.job_state_changed.has_listeners(Job):
            extra = {"before": before, "after": after}
            self.sends.append((signals.job_state_changed, Job, "job", job_id, extra))

    def send(self) -> None:
        for signal, model, name, pk, extra in self.sends:
            obj = model.objects.filter(pk=pk).first()
            if obj is not None:
                signals.send_now(signal, model, **{name: obj}, **extra)
        self.sends.clear()


def outcomes_record(conn, *, worker_id: int, outcomes: list[Outcome]) -> None:
    """Record the outcomes of executions the worker ran."""
    now = timezone.now()
    after = AfterCommit()
    successes = [o for o in outcomes if o.state == ExecutionState.SUCCEEDED]
    if successes:
        _record_successes(conn, successes, worker_id=worker_id, now=now, after=after)
    cancelled = [o for o in outcomes if o.state == ExecutionState.CANCELLED]
    for outcome in cancelled:
        _record_cancelled(conn, outcome, worker_id=worker_id, now=now)
    for outcome in outcomes:
        if outcome.state == ExecutionState.FAILED:
            execution_fail(
                conn,
                execution=outcome.execution,
                worker_id=worker_id,
                error=outcome.error,
                error_code=outcome.error_code or ErrorCode.EXCEPTION,
                traceback=outcome.traceback,
                started_at=outcome.started_at,
                trace_link=outcome.trace_link,
                now=now,
                after=after,
            )
    after.send()


def _wants_success_events(execution: ExecutionRow) -> bool:
    job = execution.job
    return notifications.wants(job, "success") or notifications.wants(job, "recovered")


def plainly_recorded(outcomes: list[Outcome]) -> bool:
    """Whether `outcomes` are successes recorded by record_successes alone (no notification
    wants them), so their statement can share a round trip with the next claim."""
    return all(
        o.state == ExecutionState.SUCCEEDED and not _wants_success_events(o.execution)
        for o in outcomes
    )


def successes_params(outcomes: list[Outcome], *, worker_id: int, now) -> dict:
    """The parameters of record_successes for a batch of successes."""
    return {
        "ids": [o.execution.id for o in outcomes],
        "results": [None if o.result is None else json.dumps(o.result) for o in outcomes],
        "started": [o.started_at for o in outcomes],
        "completing": [o.execution.id for o in outcomes if o.execution.is_own_occurrence],
        "worker": worker_id,
        "now": now,
    }


def successes_recorded(outcomes, recorded: dict, *, worker_id: int, after: AfterCommit) -> None:
    """What follows a batch of successes once recorded (`recorded`: execution id -> the
    state its job left, if it completed): the signals to send, and a warning for each one
    no longer ours."""
    for outcome in outcomes:
        execution = outcome.execution
        if execution.id not in recorded:
            # Rescued by another worker after our lease lapsed: its decision stands.
            logger.warning(
                "Execution no longer held, result dropped execution_id=%s job_id=%s",
                execution.id,
                execution.job_id,
                extra=log_fields(execution, worker_id=worker_id),
            )
            continue
        after.execution(signals.execution_succeeded, execution.id)
        job_before = recorded[execution.id]
        if job_before is not None:
            after.job_state(execution.job_id, before=job_before, after=JobState.COMPLETED)


def _record_successes(conn, outcomes, *, worker_id, now, after: AfterCommit) -> None:
    """Mark a batch of executions succeeded, and their one-time jobs completed, at once."""
    extras = [o for o in outcomes if _wants_success_events(o.execution)]
    params = successes_params(outcomes, worker_id=worker_id, now=now)
    # One statement is a transaction of its own; notifications (rare) need one around both.
    with conn.transaction() if extras else nullcontext(), conn.cursor() as cursor:
        recorded = dict(queries.run(cursor, "record_successes", **params).fetchall())
        # Notifications are queued in the transaction that records the outcome.
        for outcome in extras:
            if outcome.execution.id in recorded:
                _success_notifications(cursor, outcome.execution, now=now)
    successes_recorded(outcomes, recorded, worker_id=worker_id, after=after)


def _success_notifications(cursor, execution: ExecutionRow, *, now) -> None:
    kwargs = {"state": ExecutionState.SUCCEEDED, "error": "", "now": now}
    notifications.queue(cursor, execution, "success", **kwargs)
    if notifications.wants(execution.job, "recovered") and _recovered(cursor, execution):
        notifications.queue(cursor, execution, "recovered", **kwargs)


def _recovered(cursor, execution: ExecutionRow) -> bool:
    """Whether this success follows a failure: of an earlier attempt or the last occurrence."""
    if execution.attempt > 1:
        return True
    row = queries.run(
        cursor, "previous_outcome", job=execution.job_id, scheduled_for=execution.scheduled_for
    ).fetchone()
    return row is not None and row[0] == ExecutionState.DEAD


def _record_cancelled(conn, outcome: Outcome, *, worker_id, now) -> None:
    error = outcome.error or "Cancelled."
    params = {
        "ids": [outcome.execution.id],
        "started": [outcome.started_at],
        "worker": worker_id,
        "now": now,
        "error": error,
    }
    queries.run(conn.cursor(), "record_cancelled", **params)


def execution_fail(
    conn,
    *,
    execution: ExecutionRow,
    worker_id: int | None,
    error: str,
    error_code: str = ErrorCode.EXCEPTION,
    traceback: str = "",
    started_at: datetime | None = None,
    trace_link: str = "",
    now: datetime | None = None,
    after: AfterCommit | None = None,
) -> int | None:
    """Record a failed attempt; queue the next one, or dead-letter it when none is left.

    `worker_id` None is a rescue: the attempt is failed whoever held it. The attempt of a job
    that takes no new attempt (cancelled) ends cancelled instead: no retry, no dead letter.
    Returns the id of the queued retry, or None when none was queued (or the attempt was no
    longer held).
    """
    now = now or timezone.now()
    sends = after or AfterCommit()
    job = execution.job
    with conn.transaction(), conn.cursor() as cursor:
        row = queries.run(cursor, "lock_job_state", job=job.id).fetchone()
        job_state = row[0] if row else None
        if not job_allows(job_state, "retry"):
            state, error = ExecutionState.CANCELLED, f"Job {job_state}, not retried. {error}"
        elif execution.attempt >= job.max_retries + 1:
            state = ExecutionState.DEAD
        else:
            state = ExecutionState.FAILED
        ended = queries.run(
            cursor,
            "finish_attempt",
            id=execution.id,
            worker=worker_id,
            state=state,
            now=now,
            error=error,
            error_code=error_code,
            traceback=traceback,
            started=started_at,
            trace_link=trace_link,
        ).fetchone()
        if ended is None:
            logger.warning(
                "Execution no longer held, failure dropped execution_id=%s job_id=%s",
                execution.id,
                execution.job_id,
                extra=log_fields(execution, worker_id=worker_id),
            )
            return None
        if state == ExecutionState.CANCELLED:
            return None
        dead = state == ExecutionState.DEAD
        event = "dead" if dead else "failure"
        notifications.queue(cursor, execution, event, state=state, error=error, now=now)
        sends.execution(signals.execution_dead if dead else signals.execution_failed, execution.id)
        retry_id = None
        if dead:
            if (
                execution.is_own_occurrence
                and queries.run(cursor, "fail_job", job=job.id, now=now).fetchone()
            ):
                sends.job_state(job.id, before=job_state, after=JobState.FAILED)
                workflows.step_died(cursor, job_id=job.id, now=now)
        else:
            delay = backoff_seconds(base=job.retry_backoff_seconds, attempt=execution.attempt)
            run_after = now + timedelta(seconds=delay)
            retry_id = next_attempt_queue(cursor, execution.id, run_after=run_after, now=now)
    if after is None:
        sends.send()
    return retry_id


def next_attempt_queue(cursor, execution_id: int, *, run_after: datetime, now: datetime) -> int:
    """Queue the next attempt of `execution_id`'s occurrence (after a failure, or by hand);
    return its id."""
    params = {"id": execution_id, "run_after": run_after, "now": now}
    return queries.run(cursor, "queue_next_attempt", **params).fetchone()[0]
