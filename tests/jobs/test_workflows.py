"""Workflows on real workers and real PostgreSQL: a diamond's last step starts after both
steps before it finished and reads their results; a fan-in after 500 steps runs once on 4
worker processes; a dead step cancels or lets the rest run, and retrying it finishes the
workflow; a worker SIGKILLed mid-workflow is rescued and no step succeeds twice."""

import signal

import pytest

from jobs.models import Execution, Workflow, WorkflowStep
from jobs.services import execution_retry
from jobs.services.workflows import workflow_create
from jobs.states import ExecutionState, JobState
from tests import workflow_handlers  # noqa: F401 - registers wf_collect here
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SETTINGS = {"DJANGO_SETTINGS_MODULE": "tests.workflow_settings"}


def workers(start_worker, n: int, concurrency: int = 4):
    return [start_worker("--concurrency", str(concurrency), env=SETTINGS) for _ in range(n)]


def step(name, *depends_on, handler="wf_collect", payload=None, **extra):
    return {
        "name": name,
        "handler": handler,
        "payload": payload or {},
        "depends_on": list(depends_on),
        **extra,
    }


def finished(workflow, timeout: float = 60):
    def done():
        state = Workflow.objects.get(pk=workflow.pk).state
        return state if state != "running" else None

    return wait_for(done, timeout=timeout, message=f"workflow {workflow.name} to finish")


def run_of(workflow, name) -> Execution:
    step_job = WorkflowStep.objects.get(workflow=workflow, name=name).job
    return Execution.objects.filter(job=step_job).order_by("-id").first()


def test_a_diamonds_last_step_starts_after_both_middle_steps_and_reads_their_results(
    start_worker,
):
    workflow = workflow_create(
        name="diamond",
        steps=[
            step("a", payload={"value": "a"}),
            step("b", "a", payload={"value": "b", "seconds": 0.3}),
            step("c", "a", payload={"value": "c", "seconds": 0.8}),
            step("d", "b", "c", payload={"value": "d"}),
        ],
    )
    workers(start_worker, 4)
    assert finished(workflow) == "succeeded"
    a, b, c, d = (run_of(workflow, name) for name in "abcd")
    assert d.started_at >= max(b.finished_at, c.finished_at)
    assert min(b.started_at, c.started_at) >= a.finished_at
    assert d.result["deps"] == {
        "b": {"value": "b", "deps": {"a": {"value": "a", "deps": {}}}},
        "c": {"value": "c", "deps": {"a": {"value": "a", "deps": {}}}},
    }
    assert Execution.objects.count() == 4  # one run each


def test_a_fan_in_after_500_steps_runs_exactly_once_on_4_workers(start_worker):
    # All four listening first: one started early could drain the 500 no-op steps alone
    # (claiming ahead of its slots) before the others are up.
    started = workers(start_worker, 4, concurrency=8)
    for worker in started:
        wait_for(lambda w=worker: "Worker started" in w.output(), message="the workers to start")
    steps = [step(f"s{i}", handler="noop") for i in range(500)]
    workflow = workflow_create(
        name="fan", steps=[*steps, step("join", *(s["name"] for s in steps))]
    )
    assert finished(workflow, timeout=180) == "succeeded"
    join = WorkflowStep.objects.get(workflow=workflow, name="join")
    [run] = Execution.objects.filter(job=join.job)
    fan_out = Execution.objects.filter(job__workflow_step__workflow=workflow).exclude(pk=run.pk)
    assert fan_out.count() == 500
    assert run.started_at >= max(fan_out.values_list("finished_at", flat=True))
    assert len(run.result["deps"]) == 500
    assert fan_out.values("worker").distinct().count() > 1


def test_a_dead_step_with_cancel_cancels_the_rest_and_its_retry_finishes_the_workflow(
    start_worker,
):
    workflow = workflow_create(
        name="cancel",
        steps=[
            step("a"),
            step("b", "a", payload={"succeed_from_attempt": 2}, options={"max_retries": 0}),
            step("c", "b"),
            step("d", "c"),
        ],
    )
    workers(start_worker, 2)
    assert finished(workflow) == "failed"
    states = dict(WorkflowStep.objects.filter(workflow=workflow).values_list("name", "job__state"))
    assert states == {
        "a": JobState.COMPLETED,
        "b": JobState.FAILED,
        "c": JobState.CANCELLED,
        "d": JobState.CANCELLED,
    }
    assert not Execution.objects.filter(job__workflow_step__name__in=["c", "d"]).exists()
    dead = run_of(workflow, "b")
    assert dead.state == ExecutionState.DEAD
    execution_retry(execution=dead)
    assert finished(workflow) == "succeeded"
    assert run_of(workflow, "d").result["deps"] == {
        "c": {
            "value": None,
            "deps": {"b": {"value": None, "deps": {"a": {"value": None, "deps": {}}}}},
        }
    }


def test_a_dead_step_with_continue_lets_the_rest_run(start_worker):
    workflow = workflow_create(
        name="continue",
        steps=[
            step(
                "a",
                payload={"succeed_from_attempt": 2},
                options={"max_retries": 0},
                on_failure="continue",
            ),
            step("b", "a"),
            step("c", "b"),
        ],
    )
    workers(start_worker, 2)
    assert finished(workflow) == "failed"  # a step died, though the rest ran
    assert run_of(workflow, "c").state == ExecutionState.SUCCEEDED
    assert run_of(workflow, "b").result["deps"] == {"a": None}
    execution_retry(execution=run_of(workflow, "a"))
    assert finished(workflow) == "succeeded"
    assert Execution.objects.filter(job__workflow_step__name="b").count() == 1  # not rerun


def test_a_worker_killed_mid_workflow_is_rescued_and_no_step_succeeds_twice(start_worker):
    workflow = workflow_create(
        name="kill",
        steps=[
            step("a"),
            step(
                "b",
                "a",
                handler="probe",
                payload={"mode": "sleep", "seconds": 30, "sleep_attempts": [1]},
                options={"retry_backoff_seconds": 1},
            ),
            step("c", "b"),
        ],
    )
    [doomed] = workers(start_worker, 1)
    wait_for(
        lambda: run_of(workflow, "b") and run_of(workflow, "b").state == ExecutionState.RUNNING,
        message="b running",
    )
    doomed.signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    workers(start_worker, 2)
    assert finished(workflow, timeout=90) == "succeeded"
    b_runs = Execution.objects.filter(
        job__workflow_step__workflow=workflow, job__workflow_step__name="b"
    )
    assert sorted(b_runs.values_list("state", flat=True)) == [
        ExecutionState.FAILED,
        ExecutionState.SUCCEEDED,
    ]
    for name in "abc":
        succeeded = Execution.objects.filter(
            job__workflow_step__workflow=workflow,
            job__workflow_step__name=name,
            state=ExecutionState.SUCCEEDED,
        )
        assert succeeded.count() == 1, name
