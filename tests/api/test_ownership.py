"""Users see and touch only their own jobs and executions; a superuser sees all.

Another user's object answers 404 exactly like a missing one, on every object endpoint and
action, and nothing about it changes. What staff with some permissions reach, role by role,
is tests/api/test_permission_matrix.py.
"""

import uuid

import pytest

from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db

JOB_REQUESTS = [
    ("get", "/api/v1/jobs/{job}", None),
    ("put", "/api/v1/jobs/{job}", {"name": "mine now", "handler": "noop"}),
    ("patch", "/api/v1/jobs/{job}", {"name": "mine now"}),
    ("delete", "/api/v1/jobs/{job}", None),
    ("post", "/api/v1/jobs/{job}/pause", None),
    ("post", "/api/v1/jobs/{job}/resume", None),
    ("post", "/api/v1/jobs/{job}/cancel", None),
    ("post", "/api/v1/jobs/{job}/trigger", None),
    ("post", "/api/v1/jobs/{job}/reschedule", {"run_at": "2031-01-01T00:00:00Z"}),
    ("get", "/api/v1/jobs/{job}/executions", None),
]
EXECUTION_REQUESTS = [
    ("get", "/api/v1/executions/{execution}", None),
    ("post", "/api/v1/executions/{execution}/retry", None),
    ("post", "/api/v1/executions/{execution}/cancel", None),
]
ALL_REQUESTS = JOB_REQUESTS + EXECUTION_REQUESTS


@pytest.fixture
def alices(make_job, make_execution):
    """Alice's job and a dead execution of it (so retry would be allowed)."""
    job = make_job()
    return job, make_execution(job, ExecutionState.DEAD)


def snapshot():
    return (
        list(Job.objects.values_list("id", "name", "state", "next_run_at").order_by("id")),
        list(Execution.objects.values_list("id", "state", "cancel_requested").order_by("id")),
    )


@pytest.mark.parametrize(("method", "path", "body"), ALL_REQUESTS)
def test_another_users_object_is_404_and_untouched(bob, alices, method, path, body):
    job, execution = alices
    before = snapshot()
    audit_events = AuditEvent.objects.count()

    response = getattr(bob, method)(path.format(job=job.pk, execution=execution.pk), body)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert snapshot() == before
    assert AuditEvent.objects.count() == audit_events


@pytest.mark.parametrize(("method", "path", "body"), ALL_REQUESTS)
def test_a_missing_object_answers_the_same_404(alice, method, path, body):
    response = getattr(alice, method)(path.format(job=uuid.uuid4(), execution=2**31 - 1), body)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(("method", "path", "body"), ALL_REQUESTS)
def test_every_object_endpoint_needs_a_token(anon, alices, method, path, body):
    job, execution = alices

    response = getattr(anon, method)(path.format(job=job.pk, execution=execution.pk), body)

    assert response.status_code == 401


def test_lists_show_only_your_own_objects(alice, bob, alices, make_job, other_user):
    bobs = make_job(owner=other_user, name="bob's")

    assert [j["id"] for j in bob.get("/api/v1/jobs").json()["results"]] == [str(bobs.pk)]
    assert bob.get("/api/v1/executions").json()["count"] == 0
    assert alice.get("/api/v1/jobs").json()["count"] == 1
    assert alice.get("/api/v1/executions").json()["count"] == 1


def test_filtering_by_another_users_job_finds_nothing(bob, alices):
    job, _ = alices

    assert bob.get("/api/v1/executions", {"job": str(job.pk)}).json()["count"] == 0


def test_staff_see_and_act_on_everyones_jobs(root, alices, make_job, other_user):
    job, execution = alices
    make_job(owner=other_user)

    assert root.get("/api/v1/jobs").json()["count"] == 2
    assert root.get(f"/api/v1/executions/{execution.pk}").status_code == 200
    assert root.post(f"/api/v1/jobs/{job.pk}/pause").status_code == 200
    job.refresh_from_db()
    assert job.state == JobState.PAUSED


def test_a_job_created_by_staff_belongs_to_staff(root, staff_user):
    response = root.post(
        "/api/v1/jobs",
        {"name": "x", "handler": "noop", "schedule_type": "interval", "interval_seconds": 60},
    )

    assert Job.objects.get(pk=response.json()["id"]).owner == staff_user


def test_staff_cannot_edit_the_schedulers_own_jobs(root, make_job):
    # A notification to send, as the scheduler queues one: no owner, an internal handler.
    payload = {
        "channel": "email",
        "event": "dead",
        "job_id": "6f1c2a9e-3b7d-4c55-9a0e-2f4d8b1c7e10",
        "execution_id": 1,
    }
    job = make_job(owner=None, handler="notification", payload=payload)
    url = f"/api/v1/jobs/{job.pk}"
    edited = root.patch(url, {"payload": {**payload, "to": ["mallory@example.com"]}}, format="json")
    rescheduled = root.post(f"{url}/reschedule", {"run_at": "2030-01-01T00:00:00Z"}, format="json")

    for response in (edited, rescheduled):
        assert response.status_code == 403
        assert "the scheduler's own jobs" in response.json()["detail"]
    job.refresh_from_db()
    assert job.payload == payload
    assert job.schedule_type == "interval"
