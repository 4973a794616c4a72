"""jobs.workflow, jobs.chain and jobs.group from Django code: the graph each one saves, in
the caller's transaction."""

import pytest
from django.db import transaction

import jobs
from jobs.exceptions import ValidationError
from jobs.models import Execution, Workflow, WorkflowDependency

pytestmark = pytest.mark.django_db


def edges(workflow) -> set[tuple[str, str]]:
    return set(
        WorkflowDependency.objects.filter(step__workflow=workflow).values_list(
            "depends_on__name", "step__name"
        )
    )


def test_a_chain_runs_its_steps_one_after_another():
    workflow = jobs.chain(jobs.step("noop"), jobs.step("noop"), jobs.step("noop", name="last"))
    assert edges(workflow) == {("1-noop", "2-noop"), ("2-noop", "last")}
    assert Execution.objects.filter(job__workflow_step__name="1-noop").count() == 1
    assert Execution.objects.count() == 1


def test_a_group_then_a_callback_waits_for_all_of_the_group():
    fetches = [jobs.step("noop", {}, name=f"fetch{i}") for i in range(3)]
    workflow = jobs.group(fetches, then=jobs.step("noop", name="merge", priority=2))
    assert edges(workflow) == {(f"fetch{i}", "merge") for i in range(3)}
    assert Execution.objects.count() == 3
    assert workflow.steps.get(name="merge").job.priority == 2


def test_a_workflow_is_saved_only_if_the_callers_transaction_commits():
    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.workflow("w", [jobs.step("noop", name="a")])
        raise RuntimeError
    assert not Workflow.objects.exists()


def test_a_bad_workflow_raises_naming_the_problem():
    with pytest.raises(ValidationError, match="cycle"):
        jobs.workflow(
            "w",
            [
                jobs.step("noop", name="a", depends_on=["b"]),
                jobs.step("noop", name="b", depends_on=["a"]),
            ],
        )
    assert not Workflow.objects.exists()
