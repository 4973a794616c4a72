"""Workflow steps in the engine: what a step's death does to the steps after it.

A step's success releases the steps waiting on it in the statement that records it
(queries.sql: record_successes). Its death is recorded in a transaction of several
statements (outcomes.execution_fail), which calls `step_died` before it commits: with
on_failure=continue the steps after it are released as if it had succeeded
(workflow_release), with cancel they end cancelled, transitively (workflow_cancel_after).
"""

from datetime import datetime
from uuid import UUID

from . import queries


def step_died(cursor, *, job_id: UUID, now: datetime) -> None:
    """Release or cancel the steps after `job_id`'s, if it is a step, as its on_failure says.

    Run in the transaction that failed the job: both statements read its new state.
    """
    queries.run(cursor, "workflow_release", jobs=[job_id], now=now)
    queries.run(cursor, "workflow_cancel_after", jobs=[job_id], now=now)
