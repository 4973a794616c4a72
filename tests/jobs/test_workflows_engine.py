"""Workflows in the engine, driven as a worker drives it (its own connections): a step is
released exactly once when its last two dependencies finish at the same moment, a waiting
step costs the claim nothing, and a death with cancel or continue does what it says."""

import threading
import time

import pytest

from jobs import engine
from jobs.models import Execution, Job, Workflow, WorkflowStep
from jobs.services.workflows import workflow_create
from jobs.states import ExecutionState, JobState
from tests import workflow_handlers  # noqa: F401 - registers wf_collect here

pytestmark = pytest.mark.django_db(transaction=True)


def step(name, *depends_on, handler="noop", payload=None, **extra):
    return {
        "name": name,
        "handler": handler,
        "payload": payload or {},
        **extra,
        "depends_on": list(depends_on),
    }


def claim_all(db, worker, limit=50):
    return engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=limit)


def job_of(workflow, name) -> Job:
    return WorkflowStep.objects.get(workflow=workflow, name=name).job


def test_a_waiting_step_has_no_execution_and_is_not_claimed(db, worker):
    workflow = workflow_create(name="chain", steps=[step("a"), step("b", "a")])
    claimed = claim_all(db, worker)
    assert [e.job_id for e in claimed] == [job_of(workflow, "a").pk]
    assert not Execution.objects.filter(job=job_of(workflow, "b")).exists()
    assert job_of(workflow, "b").next_run_at is None  # never materialised either


def test_a_success_releases_the_next_step_in_the_statement_that_records_it(db, worker):
    workflow = workflow_create(name="chain", steps=[step("a"), step("b", "a")])
    [a] = claim_all(db, worker)
    db.statements.clear()
    engine.outcomes_record(db, worker_id=worker.pk, outcomes=[engine.Outcome(a, "succeeded")])
    assert len(db.statements) == 1
    [b] = Execution.objects.filter(job=job_of(workflow, "b"))
    assert (b.state, b.attempt) == (ExecutionState.QUEUED, 1)
    assert WorkflowStep.objects.get(workflow=workflow, name="b").pending == 0
    assert [e.job_id for e in claim_all(db, worker)] == [b.job_id]


def test_the_last_two_dependencies_finishing_at_once_release_the_fan_in_exactly_once(worker):
    workflow = workflow_create(
        name="race", steps=[step("left"), step("right"), step("join", "left", "right")]
    )
    join = WorkflowStep.objects.get(workflow=workflow, name="join")
    claimer = engine.connect()
    executions = claim_all(claimer, worker)
    assert len(executions) == 2
    # A third connection holds the fan-in step's row: both recordings start, flip their
    # edges and wait on that row, so their decrements meet at the same moment.
    blocker = engine.connect()
    blocker.autocommit = False
    blocker.execute("SELECT 1 FROM jobs_workflowstep WHERE id = %s FOR UPDATE", [join.pk])
    errors = []

    def record(execution):
        conn = engine.connect()
        try:
            outcome = engine.Outcome(execution, ExecutionState.SUCCEEDED, result={"n": 1})
            engine.outcomes_record(conn, worker_id=worker.pk, outcomes=[outcome])
        except Exception as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=record, args=(e,)) for e in executions]
    for thread in threads:
        thread.start()
    watcher = engine.connect()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        waiting = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting == 2:
            break
        time.sleep(0.02)
    assert waiting == 2, "both recordings should wait on the fan-in step"
    blocker.commit()
    for thread in threads:
        thread.join(10)
    assert errors == []
    runs = Execution.objects.filter(job=join.job)
    assert runs.count() == 1 and runs.get().state == ExecutionState.QUEUED
    join.refresh_from_db()
    assert join.pending == 0
    for conn in (claimer, blocker, watcher):
        conn.close()


def fail(db, worker, execution):
    engine.outcomes_record(
        db,
        worker_id=worker.pk,
        outcomes=[engine.Outcome(execution, ExecutionState.FAILED, error="boom")],
    )


def test_a_dead_step_with_cancel_cancels_everything_after_it(db, worker):
    workflow = workflow_create(
        name="cancel",
        steps=[
            step("a", options={"max_retries": 0}),
            step("b", "a"),
            step("c", "b"),
            step("side"),
        ],
    )
    by_name = {e.job.name: e for e in claim_all(db, worker)}
    fail(db, worker, by_name["a"])
    states = dict(Job.objects.filter(workflow_step__workflow=workflow).values_list("name", "state"))
    assert states == {
        "a": JobState.FAILED,
        "b": JobState.CANCELLED,
        "c": JobState.CANCELLED,
        "side": JobState.ACTIVE,
    }
    assert Workflow.objects.get(pk=workflow.pk).state == "running"  # "side" still runs
    engine.outcomes_record(
        db, worker_id=worker.pk, outcomes=[engine.Outcome(by_name["side"], "succeeded")]
    )
    assert Workflow.objects.get(pk=workflow.pk).state == "failed"


def test_a_dead_step_with_continue_releases_the_steps_after_it(db, worker):
    workflow = workflow_create(
        name="continue",
        steps=[step("a", options={"max_retries": 0}, on_failure="continue"), step("b", "a")],
    )
    [a] = claim_all(db, worker)
    fail(db, worker, a)
    [b] = claim_all(db, worker)
    assert b.job_id == job_of(workflow, "b").pk
    assert Execution.objects.filter(job_id=b.job_id).count() == 1


def test_a_failure_with_retries_left_releases_nothing(db, worker):
    workflow = workflow_create(name="retry", steps=[step("a"), step("b", "a")])
    [a] = claim_all(db, worker)
    fail(db, worker, a)
    assert not Execution.objects.filter(job=job_of(workflow, "b")).exists()
    assert WorkflowStep.objects.get(workflow=workflow, name="b").pending == 1


def test_the_release_wakes_the_workers_of_its_queue(db, worker):
    workflow_create(name="wake", steps=[step("a"), step("b", "a", options={"queue": "later"})])
    listener = engine.connect()
    listener.autocommit = True
    listener.execute("LISTEN jobs_scheduler")
    [a] = claim_all(db, worker)
    engine.outcomes_record(db, worker_id=worker.pk, outcomes=[engine.Outcome(a, "succeeded")])
    payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    assert payloads == ["queued:later"]
    listener.close()
