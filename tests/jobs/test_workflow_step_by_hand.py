"""A step's job cancelled or deleted by hand: the steps that wait on it, directly or through
others, are cancelled with it (they would otherwise wait for ever), other branches go on,
and the workflow's audit trail says why."""

import pytest

import jobs
from jobs import services
from jobs.models import AuditEvent, Execution, Workflow
from jobs.models.workflows import WorkflowState
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db


def diamond() -> Workflow:
    return jobs.workflow(
        "diamond",
        [
            jobs.step("noop", name="a"),
            jobs.step("noop", name="b", depends_on=["a"]),
            jobs.step("noop", name="c", depends_on=["a"]),
            jobs.step("noop", name="d", depends_on=["b", "c"]),
            jobs.step("noop", name="e", depends_on=["d"]),
        ],
    )


def states(workflow) -> dict[str, str]:
    return dict(workflow.steps.values_list("name", "job__state"))


def test_cancelling_a_steps_job_cancels_the_steps_after_it_and_no_others():
    workflow = diamond()
    services.job_cancel(job=workflow.steps.get(name="b").job)
    assert states(workflow) == {
        "a": JobState.ACTIVE,
        "b": JobState.CANCELLED,
        "c": JobState.ACTIVE,  # another branch: not held back by b
        "d": JobState.CANCELLED,
        "e": JobState.CANCELLED,
    }
    event = AuditEvent.objects.get(object_type="workflow", action="cancel")
    assert event.changes == {"cancelled_steps": [None, 2], "because_of_step": [None, "b"]}


def test_cancelling_the_first_step_cancels_its_queued_run_and_the_whole_workflow():
    workflow = diamond()
    first = workflow.steps.get(name="a").job
    services.job_cancel(job=first)
    assert set(states(workflow).values()) == {JobState.CANCELLED}
    assert Execution.objects.get(job=first).state == ExecutionState.CANCELLED
    assert Workflow.objects.get(pk=workflow.pk).state == WorkflowState.CANCELLED


def test_deleting_a_steps_job_cancels_the_steps_after_it():
    workflow = diamond()
    services.job_delete(job=workflow.steps.get(name="d").job)
    assert states(workflow) == {
        "a": JobState.ACTIVE,
        "b": JobState.ACTIVE,
        "c": JobState.ACTIVE,
        "e": JobState.CANCELLED,
    }


def test_a_job_that_is_no_step_cancels_nothing_else():
    workflow = diamond()
    loose = services.job_create(name="x", handler="noop", schedule_type="cron", cron="0 0 1 1 *")
    services.job_cancel(job=loose)
    assert JobState.CANCELLED not in states(workflow).values()
    assert not AuditEvent.objects.filter(object_type="workflow", action="cancel").exists()
