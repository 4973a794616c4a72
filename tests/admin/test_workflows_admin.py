"""The workflow admin: the list with states, the page with its SVG graph (a node per step,
coloured by state, linked to its job; an edge per dependency), cancel as an action and a
button, and the add form taking the API's JSON (a bad one is a form error, nothing saved)."""

import json

import pytest

from jobs.models import Job, Workflow
from jobs.services.workflows import workflow_create
from jobs.states import JobState
from tests.admin.conftest import messages_of, run_action

pytestmark = pytest.mark.django_db

LIST = "/admin/jobs/workflow/"
DIAMOND = [
    {"name": "a", "handler": "noop"},
    {"name": "b", "handler": "noop", "depends_on": ["a"]},
    {"name": "c", "handler": "noop", "depends_on": ["a"]},
    {"name": "d", "handler": "noop", "depends_on": ["b", "c"]},
]


def test_the_list_shows_each_workflow_with_its_state(admin_client, user):
    workflow_create(owner=user, name="nightly <report>", steps=DIAMOND)
    page = admin_client.get(LIST).content.decode()
    assert "nightly &lt;report&gt;" in page and "running" in page


def test_the_page_draws_the_graph_with_a_node_per_step_linked_to_its_job(admin_client, user):
    workflow = workflow_create(owner=user, name="diamond", steps=DIAMOND)
    page = admin_client.get(f"{LIST}{workflow.pk}/change/").content.decode()
    svg = page[page.index('<svg class="wf-graph"') : page.index("</svg>", page.index("wf-graph"))]
    assert svg.count("<rect") == 4
    assert svg.count("<line") == 4  # a->b, a->c, b->d, c->d
    assert svg.count('class="wf-step wf-queued"') == 1 and svg.count("wf-waiting") == 3
    for step in workflow.steps.all():
        assert f"/admin/jobs/job/{step.job_id}/change/" in svg


def test_cancel_from_the_list_cancels_the_unfinished_steps(admin_client, user):
    workflow = workflow_create(owner=user, name="w", steps=DIAMOND)
    response = run_action(admin_client, LIST, "cancel", workflow)
    assert any("Cancelled 1" in m for m in messages_of(response))
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.CANCELLED}


def test_the_add_form_creates_a_workflow_from_json(admin_client, staff_user):
    response = admin_client.post(
        f"{LIST}add/", {"name": "from admin", "steps": json.dumps(DIAMOND)}, follow=True
    )
    assert response.status_code == 200
    workflow = Workflow.objects.get()
    assert workflow.owner == staff_user and workflow.steps.count() == 4


def test_a_cycle_in_the_add_form_is_a_form_error_and_nothing_is_saved(admin_client):
    steps = [
        {"name": "a", "handler": "noop", "depends_on": ["b"]},
        {"name": "b", "handler": "noop", "depends_on": ["a"]},
    ]
    response = admin_client.post(f"{LIST}add/", {"name": "loop", "steps": json.dumps(steps)})
    assert response.status_code == 200
    assert "cycle" in response.content.decode()
    assert not Workflow.objects.exists() and not Job.objects.exists()


def test_an_operator_without_permission_does_not_see_others_workflows(client, make_staff, user):
    workflow_create(owner=user, name="alices", steps=DIAMOND)
    client.force_login(make_staff("view_job"))
    page = client.get(LIST)
    assert page.status_code == 403 or "alices" not in page.content.decode()
