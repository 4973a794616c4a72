"""A worker's lease on what it holds: registration, heartbeats, rescue, release, stop.

Heartbeats are written and judged on the database's clock, so skewed host clocks neither
rescue early nor late. Executions of a worker silent past the lease are rescued by any live
worker: failed as `worker_lost`, and retried or dead-lettered as any failure.
"""

import json
import logging
import os
import socket

from django.utils import timezone

from .. import conf
from ..states import ErrorCode
from . import queries
from .claim import handler_names
from .outcomes import AfterCommit, execution_fail, log_fields
from .rows import execution_rows

logger = logging.getLogger("jobs.engine")

RESCUE_BATCH = 100  # executions rescued per transaction


def worker_register(conn, *, name: str, queues: list[str], concurrency: int) -> int:
    """Add a worker row, heartbeating from now; return its id."""
    row = queries.run(
        conn.cursor(),
        "register_worker",
        name=name,
        hostname=socket.gethostname(),
        pid=os.getpid(),
        queues=json.dumps(queues),
        handlers=json.dumps(handler_names()),
        concurrency=concurrency,
    ).fetchone()
    return row[0]


def worker_heartbeat(conn, *, worker_id: int, abandoned_threads: int = 0) -> dict[int, bool]:
    """Extend the worker's lease and note its abandoned handler threads; return what the
    database says it holds: id -> cancel asked.

    The worker compares this with what it runs: a claim whose reply was lost (the database
    went away mid-statement) shows up here and is released instead of stuck running.
    """
    held = queries.run(conn.cursor(), "heartbeat", worker=worker_id, abandoned=abandoned_threads)
    return dict(held.fetchall())


def executions_rescue_stale(conn, *, batch: int = RESCUE_BATCH) -> int:
    """Fail the attempts held by workers whose lease lapsed, queueing their retries."""
    now = timezone.now()
    lease = conf.WORKER_LEASE_SECONDS
    after = AfterCommit()
    with conn.transaction(), conn.cursor(row_factory=execution_rows) as cursor:
        params = {"lease_seconds": lease, "limit": batch}
        stale = queries.run(cursor, "stale_executions", **params).fetchall()
        for execution in stale:
            logger.warning(
                "Rescuing execution from a lost worker execution_id=%s job_id=%s attempt=%s "
                "worker_id=%s",
                execution.id,
                execution.job_id,
                execution.attempt,
                execution.worker_id,
                extra=log_fields(execution, worker_id=execution.worker_id),
            )
            execution_fail(
                conn,
                execution=execution,
                worker_id=None,
                error=f"Worker lost: no heartbeat for {lease:g} s.",
                error_code=ErrorCode.WORKER_LOST,
                now=now,
                after=after,
            )
    after.send()
    return len(stale)


def executions_release(conn, *, worker_id: int, ids: list[int]) -> int:
    """Put executions the worker still holds back in the queue, as if never claimed.

    Those asked to stop (cancelled, or their job cancelled) end cancelled instead: back in
    the queue they would run again. Returns how many went back to the queue.
    """
    params = {"ids": ids, "worker": worker_id, "now": timezone.now()}
    with conn.transaction(), conn.cursor() as cursor:
        # Release first: the rows it queues stay locked until commit, so a cancel asked
        # meanwhile waits and then finds them queued; a row it skips as asked to stop is
        # still held, for the second UPDATE.
        released = queries.run(cursor, "release", **params).fetchone()[0]
        cancelled = queries.run(cursor, "cancel_unreleased", **params).fetchall()
    if cancelled:
        logger.info(
            "Cancelled %d executions asked to stop instead of releasing them",
            len(cancelled),
            extra={"worker_id": worker_id},
        )
    return released


def worker_stop(conn, *, worker_id: int) -> None:
    """Mark the worker stopped."""
    queries.run(conn.cursor(), "stop_worker", worker=worker_id)
