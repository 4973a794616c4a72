"""POST/GET /api/v1/workflows, GET workflows/{id}, POST workflows/{id}/cancel: what is
saved, what a bad workflow answers (400 naming the problem, nothing saved), and who reaches
which workflow (another user's is a 404)."""

import pytest

from jobs.models import AuditEvent, Execution, Job, Workflow, WorkflowStep
from jobs.services.workflows import workflow_create
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows"


def step(name, *depends_on, **extra):
    return {"name": name, "handler": "noop", "payload": {}, "depends_on": list(depends_on)} | extra


DIAMOND = [step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")]


def nothing_saved():
    return not Workflow.objects.exists() and not Job.objects.exists()


def test_a_diamond_is_created_with_only_its_first_step_queued(alice, user):
    response = alice.post(URL, {"name": "diamond", "steps": DIAMOND}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "running" and body["owner"] == user.pk
    by_name = {s["name"]: s for s in body["steps"]}
    assert [s["name"] for s in body["steps"]] == ["a", "b", "c", "d"]  # upstream first
    assert {n: s["state"] for n, s in by_name.items()} == {
        "a": "queued",
        "b": "waiting",
        "c": "waiting",
        "d": "waiting",
    }
    assert by_name["d"]["depends_on"] == ["b", "c"]
    assert Execution.objects.filter(state=ExecutionState.QUEUED).count() == 1
    assert set(Job.objects.values_list("owner_id", flat=True)) == {user.pk}
    assert AuditEvent.objects.filter(object_type="workflow", action="create").count() == 1
    detail = alice.get(f"{URL}/{body['id']}").json()
    assert detail["steps"] == body["steps"]
    listed = alice.get(URL).json()
    assert listed["count"] == 1 and listed["results"][0]["step_count"] == 4


@pytest.mark.parametrize(
    ("steps", "field", "words"),
    [
        ([step("a", "c"), step("b", "a"), step("c", "b")], "steps", "cycle: "),
        ([step("a"), step("b", "nope")], "steps[1].depends_on", "'nope'"),
        ([step("a"), step("a")], "steps[1].name", "Duplicate step name 'a'"),
        ([step("a", "a")], "steps[0].depends_on", "itself"),
        ([step("a", handler="no-such-handler")], "steps[0].handler", "no-such-handler"),
        ([step("a", handler="sleep", payload={"seconds": "x"})], "steps[0].payload", ""),
        ([step("a", options={"run_at": "2030-01-01T00:00:00Z"})], "steps[0].options.run_at", ""),
        ([step("a", on_failure="explode")], "steps[0].on_failure", "cancel"),
        ([], "steps", "one step or more"),
    ],
)
def test_a_bad_workflow_is_a_400_naming_the_problem_and_nothing_is_saved(
    alice, steps, field, words
):
    response = alice.post(URL, {"name": "bad", "steps": steps}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    messages = (
        " ".join(
            " ".join(m if isinstance(m, str) else str(m) for m in v)
            for v in body["errors"].values()
        )
        if "errors" in body
        else str(body)
    )
    assert field in str(body), body
    assert words in messages or words in str(body), body
    assert nothing_saved()


def test_a_cycle_names_the_steps_on_it(alice):
    steps = [step("start"), step("x", "start", "z"), step("y", "x"), step("z", "y")]
    body = alice.post(URL, {"name": "loop", "steps": steps}, format="json").json()
    assert (
        "x -> y -> z -> x" in str(body)
        or "z -> y -> x -> z" in str(body)
        or ("y -> z -> x -> y" in str(body))
    ), body
    assert "start" not in str(body).split("cycle")[1]
    assert nothing_saved()


def test_more_steps_than_the_setting_allows_are_refused(alice, settings):
    settings.WORKFLOW_MAX_STEPS = 3
    steps = [step(f"s{i}") for i in range(4)]
    response = alice.post(URL, {"name": "big", "steps": steps}, format="json")
    assert response.status_code == 400 and "at most 3" in str(response.json())
    assert nothing_saved()


def test_an_internal_handler_is_refused_for_a_user(alice):
    from jobs.registry import all_handlers

    internal = next(h.name for h in all_handlers() if h.internal)
    response = alice.post(URL, {"name": "x", "steps": [step("a", handler=internal)]}, format="json")
    assert response.status_code == 400 and "steps[0].handler" in str(response.json())
    assert nothing_saved()


def test_another_users_job_cannot_be_a_step(alice, other_user, make_job):
    from django.utils import timezone

    theirs = make_job(
        owner=other_user, schedule_type="once", run_at=timezone.now(), interval_seconds=None
    )
    steps = [step("a"), {"name": "b", "job": str(theirs.pk), "depends_on": ["a"]}]
    response = alice.post(URL, {"name": "x", "steps": steps}, format="json")
    assert response.status_code == 400 and "steps[1].job" in str(response.json())
    assert not Workflow.objects.exists()
    assert Job.objects.count() == 1  # theirs, untouched
    assert theirs.executions.filter(state=ExecutionState.QUEUED).count() == 1


def test_an_own_pending_job_becomes_a_waiting_step(alice, user, make_job):
    from django.utils import timezone

    mine = make_job(schedule_type="once", run_at=timezone.now(), interval_seconds=None)
    assert mine.executions.count() == 1
    steps = [step("a"), {"name": "b", "job": str(mine.pk), "depends_on": ["a"]}]
    response = alice.post(URL, {"name": "x", "steps": steps}, format="json")
    assert response.status_code == 201, response.json()
    assert WorkflowStep.objects.get(name="b").job_id == mine.pk
    assert mine.executions.count() == 0  # it waits for a now


def test_another_users_workflow_is_a_404(alice, bob, user):
    workflow = workflow_create(owner=user, name="mine", steps=DIAMOND)
    assert bob.get(f"{URL}/{workflow.pk}").status_code == 404
    assert bob.post(f"{URL}/{workflow.pk}/cancel").status_code == 404
    assert bob.get(URL).json()["count"] == 0
    assert alice.get(f"{URL}/{workflow.pk}").status_code == 200


def test_staff_see_every_workflow(root, user):
    workflow = workflow_create(owner=user, name="mine", steps=DIAMOND)
    assert root.get(f"{URL}/{workflow.pk}").status_code == 200


def test_cancel_cancels_the_unfinished_steps_and_a_second_cancel_is_a_409(alice, user):
    workflow = workflow_create(owner=user, name="mine", steps=DIAMOND)
    response = alice.post(f"{URL}/{workflow.pk}/cancel")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["state"] == "cancelled"
    assert {s["state"] for s in body["steps"]} == {"cancelled"}
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.CANCELLED}
    assert set(Execution.objects.values_list("state", flat=True)) == {ExecutionState.CANCELLED}
    assert alice.post(f"{URL}/{workflow.pk}/cancel").status_code == 409


def test_unknown_fields_are_refused(alice):
    response = alice.post(URL, {"name": "x", "steps": [step("a")], "color": 1}, format="json")
    assert response.status_code == 400 and "color" in str(response.json())
    bad_step = [step("a") | {"colour": 1}]
    response = alice.post(URL, {"name": "x", "steps": bad_step}, format="json")
    assert response.status_code == 400 and "steps[0].colour" in str(response.json())
    assert nothing_saved()
