"""Run one claimed execution: resolve the handler, call it, classify the outcome.

The executor never writes to the database itself; it returns an Outcome that the worker
records (in batches) through the engine.
"""

import json
import logging
import threading
import traceback as tb

from jobs.registry import get_handler

from ..engine import ExecutionRow, Outcome
from ..exceptions import ExecutionCancelled, HandlerNotFound
from ..states import ErrorCode, ExecutionState
from .run_log import RunLog, RunLogger
from .step_context import StepContext


def execute(
    execution: ExecutionRow, cancel_event: threading.Event, run_log: RunLog | None = None
) -> Outcome:
    """Run `execution`'s handler with its payload and return how it ended; what it logs
    and its progress go to `run_log` as well."""
    job = execution.job
    logger = logging.getLogger(f"jobs.handler.{job.handler}")
    context = StepContext(
        job=job,
        execution=execution,
        attempt=execution.attempt,
        logger=logger if run_log is None else RunLogger(logger, run_log),
        cancel_event=cancel_event,
        run_log=run_log,
    )
    try:
        handler = get_handler(job.handler)
        result = handler.func(job.payload, context)
    except ExecutionCancelled as exc:
        return Outcome(execution, ExecutionState.CANCELLED, error=str(exc))
    except HandlerNotFound as exc:
        return Outcome(
            execution,
            ExecutionState.FAILED,
            error=str(exc),
            error_code=ErrorCode.HANDLER_NOT_FOUND,
        )
    except Exception as exc:
        return Outcome(
            execution,
            ExecutionState.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            error_code=ErrorCode.EXCEPTION,
            traceback="".join(tb.format_exception(exc)),
        )
    try:
        # Stored as JSON: refuse what would not round-trip rather than fail at save time.
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        error = f"The handler returned a result that is not JSON: {exc}"
        return Outcome(
            execution, ExecutionState.FAILED, error=error, error_code=ErrorCode.BAD_RESULT
        )
    return Outcome(execution, ExecutionState.SUCCEEDED, result=result)
