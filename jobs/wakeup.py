"""Waking the workers: PostgreSQL NOTIFY on one channel, delivered at commit.

A payload says what changed, so that a worker does only what it calls for:
- `queued:<queue>`: executions were queued there: claim now.
- `schedule:<queue>`: a job's next run changed: re-read when the next job falls due.
- `cancel:<execution id>`: a running execution was asked to stop.
On other databases nothing is sent and workers poll.
"""

from django.db import connection

CHANNEL = "jobs_scheduler"
QUEUED = "queued"
SCHEDULE = "schedule"
CANCEL = "cancel"


def payload(kind: str, value) -> str:
    return f"{kind}:{value}"


def parse(text: str) -> tuple[str, str]:
    """Return (kind, value) of a payload; kind is "" for one this version does not know."""
    kind, _, value = text.partition(":")
    return (kind, value) if kind in (QUEUED, SCHEDULE, CANCEL) else ("", text)


def send(kind: str, value) -> None:
    """Notify at the current transaction's commit (at once outside one; never on rollback)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, payload(kind, value)])


def queued(queue: str) -> None:
    send(QUEUED, queue)


def schedule_changed(queue: str) -> None:
    send(SCHEDULE, queue)


def cancel_requested(execution_id: int) -> None:
    send(CANCEL, execution_id)
