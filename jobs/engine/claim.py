"""Claim: what a worker takes, within every queue's and key's limits.

A claim is claim_guard (the locks the limits rely on), then the claim itself (claim, or
claim_plain for a worker whose queues have no limits), then, after the full claim,
claim_wait (when a rate-limited queue may start its next). They are pipelined with no Sync
between them, so they run in one implicit transaction that the pipeline's Sync commits:
one round trip, where an explicit BEGIN and COMMIT cost two more. The successes a worker
collected since its last claim go first in the same pipeline (outcomes_record_and_claim).
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from ..registry import all_handlers
from . import queries
from .outcomes import (
    AfterCommit,
    Outcome,
    outcomes_record,
    plainly_recorded,
    successes_params,
    successes_recorded,
)
from .rows import ExecutionRow, execution_rows

# How early a worker wakes for a rate-limited queue's next start: the claim waits out the
# rest under the queue's lock, so starts keep to the rate's schedule (queries.sql:
# claim_guard). A start later than that (a loaded host wakes tens of milliseconds late) is
# made up by the next ones if it is late by less than a fifth of the period (queries.sql:
# claim, booked). The price: a worker may wait this long in a claim, so its other queues'
# claims wait with it.
RATE_WAIT_MS = 50


@dataclass(frozen=True)
class Claim:
    """What a claim took; when a rate-limited queue of the worker's may start next; and
    whether its queues were plain (none limited, no keyed work due), so that the next claim
    can try the plain statement first."""

    executions: list[ExecutionRow]
    next_start_at: datetime | None
    plain: bool = False


def executions_claim(
    conn, *, worker_id: int, queues: list[str], limit: int, batch: int | None = None
) -> list:
    """Mark up to `limit` due executions of `queues` running for the worker and return them
    (ExecutionRow, with their jobs), highest priority then oldest first, within the queues'
    and keys' limits. `batch` (at least `limit`) is the most it ever claims at once: the
    statement is written for it, so claims of any `limit` up to it share one plan."""
    return claim_due(conn, worker_id=worker_id, queues=queues, limit=limit, batch=batch).executions


def claim_due(
    conn,
    *,
    worker_id: int,
    queues: list[str],
    limit: int,
    batch: int | None = None,
    plain: bool = False,
    ahead: int = 0,
) -> Claim:
    """Claim as executions_claim does, and say when a rate-limited queue may start next.

    With `plain` (the worker's previous claim found its queues plain) the claim is tried
    with claim_plain, which leaves out the limits' bookkeeping, and takes up to `ahead`
    more than `limit` (the worker buffers them); if the guard finds a queue limited or
    keyed work due, that claim takes nothing and the full claim follows, for `limit` only:
    in a limited queue an execution claimed is one started.
    """
    return outcomes_record_and_claim(
        conn,
        worker_id=worker_id,
        outcomes=[],
        queues=queues,
        limit=limit,
        batch=batch,
        plain=plain,
        ahead=ahead,
    )


def recorded_with_claim(outcomes: list[Outcome], *, plain: bool) -> bool:
    """Whether `outcomes` go in the claim's pipeline (outcomes_record_and_claim): successes
    that need nothing but record_successes, before a plain claim only. In a full claim's
    transaction the room they free in a limited queue would be retaken by this worker
    before any other saw it."""
    return plain and plainly_recorded(outcomes)


def outcomes_record_and_claim(
    conn,
    *,
    worker_id: int,
    outcomes: list[Outcome],
    queues: list[str],
    limit: int,
    batch: int | None = None,
    plain: bool = False,
    ahead: int = 0,
) -> Claim:
    """Record `outcomes` as outcomes_record does, then claim as claim_due does.

    Successes that need nothing but record_successes (no notification wants them) go in
    a plain claim's pipeline, ahead of its guard: one round trip and one transaction for
    both, so a failure of either writes neither (the worker records them again at its next
    try). Otherwise they are recorded on their own first (recorded_with_claim).
    """
    wanted = limit + ahead if plain else limit
    if outcomes and (wanted <= 0 or not queues or not recorded_with_claim(outcomes, plain=plain)):
        outcomes_record(conn, worker_id=worker_id, outcomes=outcomes)
        outcomes = []
    if wanted <= 0 or not queues:
        return Claim([], None, plain)
    if not conn.autocommit:
        # The pipeline's implicit transaction is what holds the guard's locks over the claim.
        raise ValueError("claims run on an autocommit connection (engine.connect)")
    now = timezone.now()
    params = {
        "worker": worker_id,
        "queues": queues,
        "handlers": handler_names(),
        "limit": max(batch or wanted, wanted),
        "free": wanted,
        "now": now,
    }
    record = successes_params(outcomes, worker_id=worker_id, now=now) if outcomes else None
    claim, recorded = _claim(conn, "claim_plain" if plain else "claim", params, record)
    if outcomes:
        after = AfterCommit()
        successes_recorded(outcomes, recorded, worker_id=worker_id, after=after)
        after.send()
    if plain and not claim.plain:
        if limit <= 0:
            return Claim([], None, False)
        claim, _ = _claim(conn, "claim", {**params, "free": limit}, None)
    return claim


def handler_names() -> list[str]:
    """The handlers this process has: a claim takes only their executions, so a worker of
    an older release (a rolling deploy) leaves a new handler's to the workers that have it."""
    return [handler.name for handler in all_handlers()]


def _claim(conn, statement: str, params: dict, record: dict | None) -> tuple[Claim, dict]:
    queues, now = params["queues"], params["now"]
    with (
        conn.cursor() as recorder,
        conn.cursor() as guard,
        conn.cursor(row_factory=execution_rows) as cursor,
        conn.cursor() as wait,
    ):
        with conn.pipeline():
            if record is not None:
                queries.run(recorder, "record_successes", **record)
            queries.run(guard, "claim_guard", queues=queues, now=now, rate_wait_ms=RATE_WAIT_MS)
            queries.run(cursor, statement, **params)
            if statement == "claim":
                queries.run(wait, "claim_wait", queues=queues, now=now)
        recorded = dict(recorder.fetchall()) if record is not None else {}
        _, guarded, keyed, _ = guard.fetchone()
        plain = guarded == "{}" and keyed == "false"
        next_start = wait.fetchone()[0] if statement == "claim" else None
        return Claim(cursor.fetchall(), next_start, plain), recorded
