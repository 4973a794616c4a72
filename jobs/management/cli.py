"""Plain-text tables and JSON shapes for `manage.py jobsctl`, safe for a terminal."""

import re
from datetime import UTC, datetime

from jobs import secrets
from jobs.models import Execution, Job, Worker
from jobs.states import ScheduleType

SHORT_ID = 8  # characters of a job's UUID shown in tables; any unique prefix is accepted
MAX_CELL = 40  # characters shown of a long cell before it is cut


# Characters a terminal acts on instead of showing: C0 and C1 controls and DEL (ESC starts
# the sequences that move the cursor, recolour, retitle the window or rewrite the
# clipboard), and the bidirectional overrides that show text in an order it is not in. A job
# name is anyone's input; what jobsctl prints must not steer the operator's terminal.
_UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """Return `text` with each character a terminal would act on written as an escape
    (`\\x1b`, `\\u202e`); line breaks are kept."""
    return _UNPRINTABLE.sub(_escape, text)


def printable_json(text: str) -> str:
    """The same for JSON text: the escapes are JSON's (`\\u001b`), so it parses to the data."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def table(headers: list[str], rows: list[list]) -> str:
    """Return `rows` as left-aligned columns under upper-case `headers`."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [[h.upper() for h in lines[0]], *lines[1:]]
    )


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return when(value)
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def when(value: datetime | None) -> str:
    """A timestamp in UTC to the second, as tables show it."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def schedule_text(job: Job) -> str:
    """A job's schedule in a few words."""
    if job.schedule_type == ScheduleType.ONCE:
        return f"once at {when(job.run_at)}"
    if job.schedule_type == ScheduleType.INTERVAL:
        return f"every {job.interval_seconds}s"
    zone = "" if job.timezone == "UTC" else f" ({job.timezone})"
    return f"cron {job.cron}{zone}"


def job_data(job: Job) -> dict:
    """A job as --json prints it."""
    return {
        "id": str(job.pk),
        "name": job.name,
        "handler": job.handler,
        "state": job.state,
        "schedule_type": job.schedule_type,
        "run_at": iso(job.run_at),
        "interval_seconds": job.interval_seconds,
        "cron": job.cron,
        "timezone": job.timezone,
        "queue": job.queue,
        "priority": job.priority,
        "max_retries": job.max_retries,
        "retry_backoff_seconds": job.retry_backoff_seconds,
        "timeout_seconds": job.timeout_seconds,
        "misfire_policy": job.misfire_policy,
        "payload": secrets.masked(job.handler, job.payload),
        "owner": job.owner.get_username() if job.owner_id else None,
        "next_run_at": iso(job.next_run_at),
        "last_run_at": iso(job.last_run_at),
        "created_at": iso(job.created_at),
        "updated_at": iso(job.updated_at),
    }


def job_row(job: Job) -> list:
    return [
        str(job.pk)[:SHORT_ID],
        job.name,
        job.handler,
        schedule_text(job),
        job.state,
        job.queue,
        job.next_run_at,
        job.last_run_at,
    ]


JOB_HEADERS = ["id", "name", "handler", "schedule", "state", "queue", "next run", "last run"]


def execution_data(execution: Execution) -> dict:
    """An execution as --json prints it."""
    duration = execution.duration
    return {
        "id": execution.pk,
        "job_id": str(execution.job_id),
        "job_name": execution.job.name,
        "handler": execution.job.handler,
        "attempt": execution.attempt,
        "state": execution.state,
        "queue": execution.queue,
        "scheduled_for": iso(execution.scheduled_for),
        "run_after": iso(execution.run_after),
        "worker": execution.worker.name if execution.worker_id else None,
        "started_at": iso(execution.started_at),
        "finished_at": iso(execution.finished_at),
        "duration_seconds": duration.total_seconds() if duration is not None else None,
        "result": execution.result,
        "error": execution.error,
    }


def execution_row(execution: Execution) -> list:
    duration = execution.duration
    return [
        execution.pk,
        str(execution.job_id)[:SHORT_ID],
        execution.job.name,
        execution.attempt,
        execution.state,
        execution.scheduled_for,
        execution.finished_at,
        f"{duration.total_seconds():.3f}s" if duration is not None else None,
        execution.error,
    ]


EXECUTION_HEADERS = [
    "id",
    "job",
    "name",
    "attempt",
    "state",
    "scheduled for",
    "finished",
    "took",
    "error",
]


def worker_data(worker: Worker, running: int) -> dict:
    return {
        "id": worker.pk,
        "name": worker.name,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "queues": worker.queues,
        "concurrency": worker.concurrency,
        "status": worker.status,
        "running": running,
        "started_at": iso(worker.started_at),
        "heartbeat_at": iso(worker.heartbeat_at),
        "stopped_at": iso(worker.stopped_at),
    }


def worker_row(worker: Worker, running: int) -> list:
    return [
        worker.name,
        worker.hostname,
        worker.pid,
        ",".join(worker.queues or []),
        f"{running}/{worker.concurrency}",
        worker.status,
        worker.heartbeat_at,
    ]


WORKER_HEADERS = ["name", "host", "pid", "queues", "running", "status", "heartbeat"]
