"""Waking the workers: PostgreSQL NOTIFY on one channel, delivered at commit.

A payload says what changed, so that a worker does only what it calls for:
- `queued:<queue>`: executions were queued there: claim now.
- `schedule:<queue>`: a job's next run changed: re-read when the next job falls due.
- `cancel:<execution id>`: a running execution was asked to stop.
- `limits:<queue>`: a queue was paused or its limits changed: what a worker claimed ahead
  of its slots from there must not start as if nothing had.
The engine's statements (queries.sql) send `queued:` themselves; the web sends the others
through `send` (queries.sql: notify).
"""

from .. import database
from . import queries

CHANNEL = "jobs_scheduler"
QUEUED = "queued"
SCHEDULE = "schedule"
CANCEL = "cancel"
LIMITS = "limits"


def payload(kind: str, value) -> str:
    return f"{kind}:{value}"


def parse(text: str) -> tuple[str, str]:
    """Return (kind, value) of a payload; kind is "" for one this version does not know."""
    kind, _, value = text.partition(":")
    return (kind, value) if kind in (QUEUED, SCHEDULE, CANCEL, LIMITS) else ("", text)


def send(kind: str, value) -> None:
    """Notify at the current transaction's commit (at once outside one; never on rollback)."""
    with database.cursor() as cursor:
        queries.run(cursor, "notify", payload=payload(kind, value))


def queued(queue: str) -> None:
    send(QUEUED, queue)


def schedule_changed(queue: str) -> None:
    send(SCHEDULE, queue)


def cancel_requested(execution_id: int) -> None:
    send(CANCEL, execution_id)


def limits_changed(queue: str) -> None:
    send(LIMITS, queue)
