"""The operations on workflows: create one (validated whole, saved whole or not at all),
cancel one, and resume one when a dead step of it is retried.

A step is a one-time job. Those without dependencies are queued at once, as any job; the
others are written with no execution and no next run (nothing claims or materialises them)
until the engine releases them (jobs.engine.workflows).
"""

import uuid
from collections import defaultdict

from django.utils import timezone

from .. import audit, conf, database, engine, quotas, tracing
from ..exceptions import InvalidTransition, ValidationError
from ..models import Job, Workflow, WorkflowDependency, WorkflowStep
from ..models.workflows import OnFailure, WorkflowState
from ..states import ExecutionState, JobState, ScheduleType
from .cancelling import UNFINISHED, reachable, steps_cancel
from .deadlocks import retried_on_deadlock
from .jobs import _defaults
from .validation import job_validate, refuse_internal

STEP_KEYS = frozenset({"name", "handler", "payload", "options", "depends_on", "on_failure", "job"})
# A step's options: the job fields a step may set beside its handler and payload (a step
# runs when its dependencies are met, so it has no schedule of its own).
STEP_OPTIONS = (
    "queue",
    "priority",
    "max_retries",
    "retry_backoff_seconds",
    "timeout_seconds",
    "concurrency_key",
    "concurrency_limit",
    "notify_on",
    "notify_emails",
    "notify_webhook_url",
    "notify_webhook_secret",
    "notify_digest_minutes",
)


def workflow_create(*, owner=None, name: str, steps: list[dict]) -> Workflow:
    """Create a workflow of `steps` for `owner`; the steps without dependencies start now.

    Each step is {name, handler, payload, options, depends_on: [names], on_failure} (or
    {name, job: id of an existing one-time job of the owner's that has not started,
    depends_on, on_failure}). Raises ValidationError naming every problem, nothing saved.
    """
    now = timezone.now()
    specs = _validate(owner, name, steps)
    order, depth = _topological(specs)
    jobs, runs, adopted = [], [], {}
    for spec in specs:
        if spec["job"] is not None:
            adopted[spec["name"]] = spec["job"]
            continue
        job = Job(
            owner=owner,
            state=JobState.ACTIVE,
            **spec["fields"],
            trace_context=tracing.current_context(),
        )
        if spec["depends_on"]:
            job.next_run_at = None  # waiting: released by the engine, never materialised
        else:
            job.next_run_at = job.run_at
            runs += [(job, when) for when in engine.occurrences_due(job, now=now)]
        spec["job"] = job
        jobs.append(job)
    workflow = Workflow(owner=owner, name=name.strip(), created_at=now)
    with database.atomic():
        for spec in specs:
            if spec["name"] in adopted:
                _adopt(spec, waits=bool(spec["depends_on"]))
        if jobs and quotas.applies_to(owner):
            quotas.check_active_jobs(owner, adding=len(jobs))
            by_handler = defaultdict(list)
            for job in jobs:
                by_handler[job.handler].append(job.payload)
            for handler, payloads in by_handler.items():
                quotas.check_emails(owner, handler=handler, payloads=payloads)
        workflow.save(force_insert=True)
        with database.cursor() as cursor:
            engine.jobs_insert(cursor, jobs, runs, now=now, changes=None)
        made = WorkflowStep.objects.bulk_create(
            WorkflowStep(
                workflow=workflow,
                job=spec["job"],
                name=spec["name"],
                on_failure=spec["on_failure"],
                pending=len(spec["depends_on"]),
                depth=depth[spec["name"]],
            )
            for spec in (specs[i] for i in order)
        )
        by_name = {step.name: step for step in made}
        WorkflowDependency.objects.bulk_create(
            WorkflowDependency(step=by_name[spec["name"]], depends_on=by_name[upstream])
            for spec in specs
            for upstream in spec["depends_on"]
        )
        audit.record(
            action="create",
            object_type="workflow",
            object_id=workflow.pk,
            owner_id=workflow.owner_id,
            changes={"name": [None, workflow.name], "steps": [None, len(specs)]},
        )
    return workflow


def _validate(owner, name: str, steps) -> list[dict]:
    """Return the steps normalised, or raise ValidationError with every problem found."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not (name or "").strip():
        add("name", "A workflow needs a name.")
    if not isinstance(steps, list) or not steps:
        add("steps", "Give a list of one step or more.")
        raise ValidationError(errors)
    if len(steps) > conf.WORKFLOW_MAX_STEPS:
        add("steps", f"{len(steps)} steps; a workflow has at most {conf.WORKFLOW_MAX_STEPS}.")
        raise ValidationError(errors)
    specs, seen = [], set()
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        if not isinstance(step, dict):
            add(where, "A step is an object.")
            continue
        for key in sorted(set(step) - STEP_KEYS):
            add(f"{where}.{key}", "Unknown field.")
        step_name = str(step.get("name") or "").strip()
        if not step_name:
            add(f"{where}.name", "A step needs a name.")
        elif step_name in seen:
            add(f"{where}.name", f"Duplicate step name {step_name!r}.")
        seen.add(step_name)
        depends_on = step.get("depends_on") or []
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            add(f"{where}.depends_on", "A list of step names.")
            depends_on = []
        on_failure = step.get("on_failure") or OnFailure.CANCEL
        if on_failure not in OnFailure.values:
            add(f"{where}.on_failure", f"One of {', '.join(OnFailure.values)}.")
        spec = {
            "name": step_name,
            "depends_on": list(dict.fromkeys(depends_on)),
            "on_failure": on_failure,
            "job": None,
            "fields": None,
        }
        if step.get("job") is not None:
            spec["job"] = _existing_job(owner, step["job"], where, add)
        else:
            spec["fields"] = _job_fields(owner, step, step_name, where, add)
        specs.append(spec)
    names = {spec["name"] for spec in specs}
    for index, spec in enumerate(specs):
        for upstream in spec["depends_on"]:
            if upstream not in names:
                add(f"steps[{index}].depends_on", f"No step is named {upstream!r}.")
            elif upstream == spec["name"]:
                add(f"steps[{index}].depends_on", "A step cannot depend on itself.")
    if not errors:
        cycle = _cycle(specs)
        if cycle:
            add("steps", f"The dependencies go round in a cycle: {' -> '.join(cycle)}.")
    if errors:
        raise ValidationError(errors)
    return specs


def _job_fields(owner, step: dict, step_name: str, where: str, add) -> dict | None:
    options = step.get("options") or {}
    if not isinstance(options, dict):
        add(f"{where}.options", "An object of job fields.")
        return None
    for key in sorted(set(options) - set(STEP_OPTIONS)):
        add(f"{where}.options.{key}", "Not an option of a step.")
    given = {key: value for key, value in options.items() if key in STEP_OPTIONS}
    fields = {
        **_defaults({}),
        **given,
        "name": step_name or "step",
        "handler": step.get("handler") or "",
        "payload": step.get("payload") if step.get("payload") is not None else {},
        "schedule_type": ScheduleType.ONCE,
        "run_at": timezone.now(),
    }
    problems = []
    try:
        refuse_internal(fields["handler"], owner)  # said first: the payload matters not then
        fields = job_validate(fields)
        quotas.check_definition(owner, fields)
    except ValidationError as exc:
        problems = exc.errors.items()
    for field, messages in problems:
        key = field if field in ("handler", "payload") else f"options.{field}"
        for message in messages:
            add(f"{where}.{key}", message)
    return None if problems else fields


def _existing_job(owner, job_id, where: str, add) -> Job | None:
    """The job a step names by id: a one-time job of the owner's that has not started."""
    job = Job.objects.filter(pk=_uuid(job_id), owner_id=getattr(owner, "pk", owner)).first()
    if job is None:
        add(f"{where}.job", "No job of yours has this id.")
        return None
    if job.schedule_type != ScheduleType.ONCE or job.state not in UNFINISHED:
        add(f"{where}.job", "Only a one-time job that has not finished can be a step.")
    elif WorkflowStep.objects.filter(job=job).exists():
        add(f"{where}.job", "This job is a step of another workflow already.")
    elif job.executions.exclude(state=ExecutionState.QUEUED).exists():
        add(f"{where}.job", "This job has started already.")
    return job


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _adopt(spec: dict, *, waits: bool) -> None:
    """Make an existing job a step; one that waits gives up its queued first run."""
    job = Job.objects.select_for_update().get(pk=spec["job"].pk)
    if job.state not in UNFINISHED or job.executions.exclude(state=ExecutionState.QUEUED).exists():
        raise ValidationError({"steps": [f"The job of step {spec['name']!r} has started."]})
    if waits:
        job.executions.filter(state=ExecutionState.QUEUED).delete()
        Job.objects.filter(pk=job.pk).update(next_run_at=None)
    spec["job"] = job


def _cycle(specs: list[dict]) -> list[str]:
    """Return the names along one cycle of the dependencies (first name repeated), or []."""
    after = {spec["name"]: spec["depends_on"] for spec in specs}
    colour: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in after:
        if start in colour:
            continue
        path, stack = [], [(start, iter(after[start]))]
        colour[start] = 1
        path.append(start)
        while stack:
            node, upstream = stack[-1]
            nxt = next(upstream, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt][::-1]
            elif nxt not in colour:
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(after[nxt])))
    return []


def _topological(specs: list[dict]) -> tuple[list[int], dict[str, int]]:
    """Return the indexes of `specs` in dependency order, and each step's depth (the
    longest path to it from a step without dependencies)."""
    depth: dict[str, int] = {}
    by_name = {spec["name"]: spec for spec in specs}
    order: list[int] = []
    index = {spec["name"]: i for i, spec in enumerate(specs)}

    def visit(name: str) -> int:
        if name not in depth:
            # Iterative enough: depth is computed bottom-up along an explicit stack.
            stack = [name]
            while stack:
                top = stack[-1]
                missing = [u for u in by_name[top]["depends_on"] if u not in depth]
                if missing:
                    stack.extend(missing)
                    continue
                stack.pop()
                if top not in depth:
                    ups = by_name[top]["depends_on"]
                    depth[top] = 1 + max((depth[u] for u in ups), default=-1)
                    order.append(index[top])
        return depth[name]

    for spec in specs:
        visit(spec["name"])
    return order, depth


# --- Cancel and resume ------------------------------------------------------------------


@retried_on_deadlock
def workflow_cancel(*, workflow: Workflow) -> Workflow:
    """Cancel the steps of `workflow` that have not finished (running ones are asked to
    stop); 409 when none is left to cancel."""
    now = timezone.now()
    with database.atomic():
        locked = steps_cancel(
            workflow_step__workflow=workflow, now=now, error="Workflow cancelled."
        )
        if not locked:
            raise InvalidTransition(obj="workflow", state=workflow.state, action="cancel")
        Workflow.objects.filter(pk=workflow.pk).update(cancelled_at=now)
        audit.record(
            action="cancel",
            object_type="workflow",
            object_id=workflow.pk,
            owner_id=workflow.owner_id,
            changes={"cancelled_steps": [None, len(locked)]},
        )
    workflow.refresh_from_db()
    return workflow


def workflow_step_retried(*, job: Job) -> int:
    """Resume the workflow of `job` (a step whose dead run is retried, in the retry's
    transaction): the steps after it that its death cancelled wait again, unless the
    workflow was cancelled or another dead step still holds them. Returns how many."""
    step = WorkflowStep.objects.filter(job=job).select_related("workflow").first()
    if step is None or step.workflow.cancelled_at is not None:
        return 0
    edges = defaultdict(list)
    for upstream, downstream in WorkflowDependency.objects.filter(
        step__workflow=step.workflow
    ).values_list("depends_on_id", "step_id"):
        edges[upstream].append(downstream)
    dead_cancelling = WorkflowStep.objects.filter(
        workflow=step.workflow, job__state=JobState.FAILED, on_failure=OnFailure.CANCEL
    ).exclude(pk=step.pk)
    held = reachable(edges, list(dead_cancelling.values_list("pk", flat=True)))
    revived = reachable(edges, [step.pk]) - held
    return Job.objects.filter(workflow_step__in=revived, state=JobState.CANCELLED).update(
        state=JobState.ACTIVE, next_run_at=None, updated_at=timezone.now()
    )


__all__ = ["WorkflowState", "workflow_cancel", "workflow_create", "workflow_step_retried"]
