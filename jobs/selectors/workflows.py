"""Reading workflows: each step's state, the graph, and the results a step's handler reads.

The API, the admin and jobsctl show a step's state from here, so they never disagree:
- `waiting`: dependencies not all met, no run yet;
- `queued`, `running`: its current run (a retry after a failure is queued again);
- `succeeded`, `failed` (its run died), `cancelled`: its job finished so.
"""

from dataclasses import dataclass
from uuid import UUID

from django.db.models import F, OuterRef, Subquery

from ..models import Execution, WorkflowDependency, WorkflowStep
from ..states import ExecutionState, JobState

STEP_STATES = ("waiting", "queued", "running", "succeeded", "failed", "cancelled")
_FINISHED = {
    JobState.COMPLETED: "succeeded",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class StepRow:
    id: int
    name: str
    state: str
    job_id: UUID
    on_failure: str
    depends_on: list[str]
    depth: int
    execution_id: int | None  # the latest run, if any
    started_at: object
    finished_at: object


def step_state(*, job_state: str, last_run_state: str | None) -> str:
    """The state a step shows, from its job's and its latest run's."""
    if job_state in _FINISHED:
        return _FINISHED[job_state]
    if last_run_state in (ExecutionState.QUEUED, ExecutionState.RUNNING):
        return last_run_state
    return "waiting" if last_run_state is None else ExecutionState.QUEUED


def step_rows(workflow) -> list[StepRow]:
    """Every step of `workflow`, upstream first, with its state and dependencies (names)."""
    latest = Execution.objects.filter(job_id=OuterRef("job_id")).order_by("-id")
    steps = (
        WorkflowStep.objects.filter(workflow=workflow)
        .annotate(
            job_state=F("job__state"),
            last_id=Subquery(latest.values("id")[:1]),
            last_state=Subquery(latest.values("state")[:1]),
            last_started=Subquery(latest.values("started_at")[:1]),
            last_finished=Subquery(latest.values("finished_at")[:1]),
        )
        .order_by("depth", "id")
    )
    names = {}
    rows = list(steps)
    for step in rows:
        names[step.pk] = step.name
    upstream: dict[int, list[str]] = {step.pk: [] for step in rows}
    edges = WorkflowDependency.objects.filter(step__workflow=workflow)
    for step_id, depends_on_id in edges.values_list("step_id", "depends_on_id").order_by("id"):
        upstream[step_id].append(names[depends_on_id])
    return [
        StepRow(
            id=step.pk,
            name=step.name,
            state=step_state(job_state=step.job_state, last_run_state=step.last_state),
            job_id=step.job_id,
            on_failure=step.on_failure,
            depends_on=upstream[step.pk],
            depth=step.depth,
            execution_id=step.last_id,
            started_at=step.last_started,
            finished_at=step.last_finished,
        )
        for step in rows
    ]


def dependency_results(job_id) -> dict:
    """The results of the steps the step of `job_id` depends on, by step name: each one's
    succeeded run's result (None for one that died with on_failure=continue). Empty for a
    job that is no step."""
    upstream = dict(
        WorkflowDependency.objects.filter(step__job_id=job_id).values_list(
            "depends_on__job_id", "depends_on__name"
        )
    )
    if not upstream:
        return {}
    results = dict.fromkeys(upstream.values())
    succeeded = (
        Execution.objects.filter(job_id__in=upstream, state=ExecutionState.SUCCEEDED)
        .order_by("job_id", "-id")
        .distinct("job_id")
        .values_list("job_id", "result")
    )
    for upstream_job, result in succeeded:
        results[upstream[upstream_job]] = result
    return results
