"""The scheduler's operations, one function per transition (jobs, executions), and what
makes a job valid (validation). API, admin, jobsctl and in-process code call these."""

from .backfill import job_backfill
from .cancelling import CANCEL_AT_ONCE, CANCEL_BY_REQUEST
from .executions import execution_cancel, execution_retry
from .jobs import (
    AUDITED_FIELDS,
    job_cancel,
    job_create,
    job_delete,
    job_pause,
    job_reschedule,
    job_resume,
    job_trigger,
    job_update,
    jobs_create_many,
)
from .validation import EDITABLE_FIELDS, NOTIFY_FIELDS, is_internal, job_validate

__all__ = [
    "AUDITED_FIELDS",
    "CANCEL_AT_ONCE",
    "CANCEL_BY_REQUEST",
    "EDITABLE_FIELDS",
    "NOTIFY_FIELDS",
    "execution_cancel",
    "execution_retry",
    "is_internal",
    "job_backfill",
    "job_cancel",
    "job_create",
    "job_delete",
    "job_pause",
    "job_reschedule",
    "job_resume",
    "job_trigger",
    "job_update",
    "job_validate",
    "jobs_create_many",
]
