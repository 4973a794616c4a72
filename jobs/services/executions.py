"""The operations on executions: retry a dead or cancelled one, cancel a queued or running one."""

from django.db import IntegrityError
from django.utils import timezone

from .. import audit, database, engine
from ..engine import wakeup
from ..exceptions import InvalidTransition
from ..models import Execution
from ..states import EXECUTION_ACTIONS, ExecutionState, JobState
from .cancelling import CANCEL_AT_ONCE, CANCEL_BY_REQUEST
from .deadlocks import retried_on_deadlock
from .jobs import lock_job, transition_job
from .workflows import workflow_step_retried


@retried_on_deadlock
def execution_retry(*, execution: Execution) -> Execution:
    """Queue a new attempt of a dead (or cancelled) execution's occurrence."""
    now = timezone.now()
    try:
        with database.atomic():
            # Both states are read in the database, the job's under a row lock: see
            # lock_job. (Dead and cancelled are final, so the execution needs no lock.)
            retryable = EXECUTION_ACTIONS["retry"]
            if not Execution.objects.filter(pk=execution.pk, state__in=retryable).exists():
                execution.refresh_from_db(fields=["state"])
                raise InvalidTransition(obj="execution", state=execution.state, action="retry")
            job = lock_job(execution.job, "retry", obj="execution of a job")
            with database.cursor() as cursor:
                retry_id = engine.next_attempt_queue(cursor, execution.pk, run_after=now, now=now)
            retry = Execution.objects.get(pk=retry_id)
            if job.state == JobState.FAILED:
                transition_job(job, JobState.ACTIVE, action="reschedule")
                workflow_step_retried(job=job)  # a workflow resumes from a retried step
            _audit_execution(execution, "retry", {"retry": [None, retry.pk]})
    except IntegrityError:
        # The unique (job, scheduled_for, attempt) key: this attempt was already retried.
        raise InvalidTransition(obj="execution", state="already retried", action="retry") from None
    return retry


@retried_on_deadlock
def execution_cancel(*, execution: Execution) -> Execution:
    """Cancel a queued execution, or ask a running one to stop."""
    now = timezone.now()
    with database.atomic():
        # Both moves are conditional UPDATEs: a worker claiming the row meanwhile wins.
        updated = Execution.objects.filter(pk=execution.pk, state__in=CANCEL_AT_ONCE).update(
            state=ExecutionState.CANCELLED, finished_at=now, error="Cancelled."
        )
        change = {"state": [ExecutionState.QUEUED, ExecutionState.CANCELLED]}
        if not updated:
            updated = Execution.objects.filter(pk=execution.pk, state__in=CANCEL_BY_REQUEST).update(
                cancel_requested=True
            )
            change = {"cancel_requested": [False, True]}
        if not updated:
            execution.refresh_from_db()
            raise InvalidTransition(obj="execution", state=execution.state, action="cancel")
        wakeup.cancel_requested(execution.pk)
        _audit_execution(execution, "cancel", change)
    execution.refresh_from_db()
    return execution


def _audit_execution(execution: Execution, action: str, changes: dict) -> None:
    audit.record(
        action=action,
        object_type="execution",
        object_id=execution.pk,
        owner_id=execution.job.owner_id,
        changes=changes,
    )
