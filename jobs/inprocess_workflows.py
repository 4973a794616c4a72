"""Workflows from Django code, inside the caller's transaction.

    import jobs

    jobs.workflow("report", [
        jobs.step("export", {"day": "2030-01-01"}, name="export"),
        jobs.step("transform", name="transform", depends_on=["export"]),
        jobs.step("email", {...}, name="mail", depends_on=["transform"]),
    ])
    jobs.chain(jobs.step("export"), jobs.step("transform"), jobs.step("email", {...}))
    jobs.group([jobs.step("fetch", {"url": u}) for u in feeds], then=jobs.step("merge"))

A step's handler reads the results of the steps before it from `ctx.dependency_results`
(by step name). Rows are written on the caller's connection: the workflow exists only if
the caller's transaction commits (with a scheduler database of its own,
SCHEDULER_DATABASE_URL, they commit there at once).
"""

from itertools import pairwise

from .models import Workflow
from .models.workflows import OnFailure
from .services.workflows import workflow_create


def step(
    handler: str,
    payload: dict | None = None,
    *,
    name: str | None = None,
    depends_on: list[str] | tuple[str, ...] = (),
    on_failure: str = OnFailure.CANCEL,
    **options,
) -> dict:
    """Describe one step: `handler` with `payload`; `options` are job fields (queue,
    priority, max_retries, timeout_seconds, ...). Unnamed, it is named after its place."""
    return {
        "name": name,
        "handler": handler,
        "payload": {} if payload is None else payload,
        "options": options,
        "depends_on": list(depends_on),
        "on_failure": on_failure,
    }


def workflow(name: str, steps: list[dict], *, owner=None) -> Workflow:
    """Create a workflow of `steps` (see `step`); those without dependencies start now.

    Raises jobs.exceptions.ValidationError naming every problem (a cycle, an unknown
    dependency, a duplicate name...), with nothing saved.
    """
    return workflow_create(owner=owner, name=name, steps=_named(steps))


def chain(*steps: dict, name: str = "chain", owner=None) -> Workflow:
    """Create a workflow that runs `steps` one after another."""
    named = _named(list(steps))
    for previous, current in pairwise(named):
        current["depends_on"] = [*current["depends_on"], previous["name"]]
    return workflow_create(owner=owner, name=name, steps=named)


def group(steps: list[dict], *, then: dict, name: str = "group", owner=None) -> Workflow:
    """Create a workflow that runs `steps` side by side, then `then` once all have run."""
    named = _named([*steps, then])
    named[-1]["depends_on"] = [*named[-1]["depends_on"], *(s["name"] for s in named[:-1])]
    return workflow_create(owner=owner, name=name, steps=named)


def _named(steps: list[dict]) -> list[dict]:
    """Copies of `steps`, each unnamed one named `<position>-<handler>`."""
    return [
        {**spec, "name": spec.get("name") or f"{index}-{spec.get('handler', 'step')}"}
        for index, spec in enumerate(steps, start=1)
    ]
