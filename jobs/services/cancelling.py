"""Ending runs that will not be wanted: the one place that cancels a set of jobs' runs, and
the steps of a workflow that wait on a step that will now never succeed (its job cancelled
or deleted by hand), so a workflow never waits for ever."""

from collections import defaultdict

from django.utils import timezone

from .. import audit
from ..engine import wakeup
from ..models import Execution, Job, WorkflowDependency, WorkflowStep
from ..states import (
    EXECUTION_ACTIONS,
    HELD_EXECUTION_STATES,
    ExecutionState,
    JobState,
    execution_sources,
)

# Cancel moves what no worker holds straight to cancelled, and only asks a holder to stop.
CANCEL_AT_ONCE = execution_sources(ExecutionState.CANCELLED, "cancel") - HELD_EXECUTION_STATES
CANCEL_BY_REQUEST = EXECUTION_ACTIONS["cancel"] & HELD_EXECUTION_STATES
UNFINISHED = (JobState.ACTIVE, JobState.PAUSED)


def _runs_cancel(job_ids: list, *, now, error: str) -> None:
    """Cancel the runs of `job_ids` no worker holds, and ask the holders of the others to
    stop (they are woken to look)."""
    runs = Execution.objects.filter(job_id__in=job_ids)
    runs.filter(state__in=CANCEL_AT_ONCE).update(
        state=ExecutionState.CANCELLED, finished_at=now, error=error
    )
    running = list(runs.filter(state__in=CANCEL_BY_REQUEST).values_list("pk", flat=True))
    Execution.objects.filter(pk__in=running).update(cancel_requested=True)
    for execution_id in running:
        wakeup.cancel_requested(execution_id)


def steps_cancel(*, now, error: str, **steps) -> list:
    """Cancel the unfinished workflow steps `steps` filters (Job lookups), and their runs;
    return their jobs' ids. The jobs are locked upstream first, the order the engine takes
    them in: a step whose outcome is being recorded finishes first, and what it released is
    cancelled here."""
    locked = list(
        Job.objects.select_for_update(no_key=True, of=("self",))
        .filter(state__in=UNFINISHED, **steps)
        .order_by("workflow_step__depth", "id")
        .values_list("id", flat=True)
    )
    Job.objects.filter(pk__in=locked).update(
        state=JobState.CANCELLED, next_run_at=None, updated_at=now
    )
    _runs_cancel(locked, now=now, error=error)
    return locked


def steps_after_cancel(*, job: Job, reason: str) -> int:
    """Cancel the unfinished steps that wait, directly or through others, on `job`'s step
    (none when `job` is no workflow step), in the caller's transaction; audited on the
    workflow. Returns how many were cancelled."""
    step = WorkflowStep.objects.filter(job=job).select_related("workflow").first()
    if step is None:
        return 0
    edges = defaultdict(list)
    for upstream, downstream in WorkflowDependency.objects.filter(
        step__workflow=step.workflow
    ).values_list("depends_on_id", "step_id"):
        edges[upstream].append(downstream)
    after = reachable(edges, [step.pk])
    locked = steps_cancel(
        workflow_step__in=after, now=timezone.now(), error=f"Step {step.name!r} was {reason}."
    )
    if not locked:
        return 0
    audit.record(
        action="cancel",
        object_type="workflow",
        object_id=step.workflow_id,
        owner_id=step.workflow.owner_id,
        changes={"cancelled_steps": [None, len(locked)], "because_of_step": [None, step.name]},
    )
    return len(locked)


def reachable(edges: dict, starts: list[int]) -> set[int]:
    """The steps after `starts` along `edges`, transitively (not the starts themselves)."""
    seen: set[int] = set()
    todo = [d for s in starts for d in edges[s]]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return seen
