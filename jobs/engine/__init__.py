"""The engine: every statement the worker and the enqueue path run, in queries.sql.

The worker runs them on connections of its own (connection.connect); the web runs the
enqueue path on Django's cursor. Each module is one stage: materialise, claim, outcomes
(complete), lease (heartbeat, rescue, release), enqueue, notifications.
"""

from .claim import (
    RATE_WAIT_MS,
    Claim,
    claim_due,
    executions_claim,
    handler_names,
    outcomes_record_and_claim,
    recorded_with_claim,
)
from .connection import connect
from .enqueue import jobs_copy, jobs_insert
from .lease import (
    executions_release,
    executions_rescue_stale,
    worker_heartbeat,
    worker_register,
    worker_stop,
)
from .materialise import job_queue_due, jobs_materialise, next_job_due, occurrences_due
from .outcomes import (
    Outcome,
    backoff_seconds,
    execution_fail,
    log_fields,
    next_attempt_queue,
    outcomes_record,
)
from .params import NETWORK_TIMEOUTS
from .rows import ExecutionRow, JobRow
from .run_logs import run_logs_append

__all__ = [
    "NETWORK_TIMEOUTS",
    "RATE_WAIT_MS",
    "Claim",
    "ExecutionRow",
    "JobRow",
    "Outcome",
    "backoff_seconds",
    "claim_due",
    "connect",
    "execution_fail",
    "executions_claim",
    "executions_release",
    "executions_rescue_stale",
    "handler_names",
    "job_queue_due",
    "jobs_copy",
    "jobs_insert",
    "jobs_materialise",
    "log_fields",
    "next_attempt_queue",
    "next_job_due",
    "occurrences_due",
    "outcomes_record",
    "outcomes_record_and_claim",
    "recorded_with_claim",
    "run_logs_append",
    "worker_heartbeat",
    "worker_register",
    "worker_stop",
]
