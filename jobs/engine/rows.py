"""What the worker's queries return: small frozen dataclasses, built by psycopg row factories.

A handler gets these as `ctx.job` and `ctx.execution`. They hold what running, recording and
notifying need, read in the claim's one round trip; a handler that needs more of the job
reads it through the ORM (`Job.objects.get(pk=ctx.job.id)`).
"""

from dataclasses import dataclass, fields
from datetime import datetime
from operator import itemgetter
from typing import Any
from uuid import UUID

from .. import conf
from ..states import ScheduleType

JOB_PREFIX = "job__"  # the claim's job columns are aliased job__<column>


@dataclass(frozen=True, slots=True)
class JobRow:
    """The job an execution belongs to, as the claim read it."""

    id: UUID
    name: str
    handler: str
    payload: Any
    owner_id: int | None
    queue: str
    priority: int
    schedule_type: str
    run_at: datetime | None
    timezone: str
    max_retries: int
    retry_backoff_seconds: int
    timeout_seconds: int | None
    notify_on: list
    notify_emails: list
    notify_webhook_url: str
    notify_digest_minutes: int
    trace_context: dict  # what the job's runs continue (jobs.tracing)

    @property
    def pk(self) -> UUID:
        return self.id

    @property
    def effective_timeout(self) -> int:
        """Seconds the handler may run: its own timeout, or the default."""
        return self.timeout_seconds or conf.JOB_DEFAULT_TIMEOUT_SECONDS


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One claimed attempt, with its job."""

    id: int
    job_id: UUID
    state: str
    scheduled_for: datetime
    attempt: int
    queue: str
    priority: int
    run_after: datetime
    started_at: datetime | None
    worker_id: int | None
    trace_link: str  # the first attempt's run span, for a retry's link (jobs.tracing)
    job: JobRow  # last: execution_rows passes it after the columns

    @property
    def pk(self) -> int:
        return self.id

    @property
    def is_own_occurrence(self) -> bool:
        """Whether this is the scheduled run of a one-time job (not a manual trigger)."""
        job = self.job
        return job.schedule_type == ScheduleType.ONCE and self.scheduled_for == job.run_at


_OWN = frozenset(f.name for f in fields(ExecutionRow)) - {"job"}
_JOB = frozenset(f.name for f in fields(JobRow)) - {"id"}  # the job's id is job_id


def execution_rows(cursor):
    """A psycopg row factory: rows of execution columns and job__ columns as ExecutionRow."""
    if not cursor.description:
        return tuple  # a result without rows: nothing is ever built
    at = {column.name: i for i, column in enumerate(cursor.description)}
    unknown = [
        n
        for n in at
        if n not in _OWN and not (n.startswith(JOB_PREFIX) and n.removeprefix(JOB_PREFIX) in _JOB)
    ]
    if unknown:
        raise TypeError(f"columns {unknown} are not fields of ExecutionRow or JobRow")
    if "job_id" in at:
        at[JOB_PREFIX + "id"] = at["job_id"]
    # Positions in the fields' order, so each row is built with positional arguments (a
    # claim builds dozens a round trip on the worker's main thread).
    job_values = itemgetter(*(at[JOB_PREFIX + f.name] for f in fields(JobRow)))
    own_values = itemgetter(*(at[f.name] for f in fields(ExecutionRow) if f.name != "job"))

    def make(values) -> ExecutionRow:
        return ExecutionRow(*own_values(values), JobRow(*job_values(values)))

    return make
