"""The worker's log lines about each execution: started, and how it ended, with the fields
structured logging carries (engine.log_fields)."""

import logging
import time

from .. import engine
from ..engine import log_fields
from ..states import ExecutionState
from .slots import Running

logger = logging.getLogger("jobs.worker")


def log_started(execution: engine.ExecutionRow, *, worker: str) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    job = execution.job
    logger.info(
        "Execution started job=%s handler=%s job_id=%s execution_id=%s attempt=%s",
        job.name,
        job.handler,
        job.id,
        execution.id,
        execution.attempt,
        extra=log_fields(execution, worker=worker),
    )


def log_outcome(item: Running, outcome: engine.Outcome, *, worker: str) -> None:
    execution = item.execution
    duration = time.monotonic() - item.started
    level = logging.INFO if outcome.state == ExecutionState.SUCCEEDED else logging.WARNING
    if not logger.isEnabledFor(level):
        return
    logger.log(
        level,
        "Execution %s job=%s job_id=%s execution_id=%s attempt=%s duration=%.3fs%s",
        outcome.state,
        execution.job.name,
        execution.job_id,
        execution.id,
        execution.attempt,
        duration,
        f" error={outcome.error!r}" if outcome.error else "",
        extra=log_fields(execution, worker=worker, duration=round(duration, 6)),
    )
