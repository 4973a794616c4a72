"""Job actions through HTTP: pause, resume, cancel, trigger, reschedule, and the history."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Execution, Job
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db

ALL_STATES = list(JobState.values)
# Which job states each action accepts: the API's promise, written out here on purpose.
ALLOWED = {
    "pause": {"active"},
    "resume": {"paused"},
    "cancel": {"active", "paused"},
    "trigger": {"active", "paused", "completed", "failed"},
    "reschedule": {"active", "paused", "completed", "failed"},
}
RESULT_STATE = {"pause": "paused", "resume": "active", "cancel": "cancelled"}


def job_in(make_job, state):
    job = make_job()
    Job.objects.filter(pk=job.pk).update(state=state)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_a_state_change_succeeds_only_from_the_states_that_allow_it(alice, make_job, action, state):
    job = job_in(make_job, state)

    response = alice.post(f"/api/v1/jobs/{job.pk}/{action}")

    job.refresh_from_db()
    if state in ALLOWED[action]:
        assert response.status_code == 200
        assert response.json()["state"] == RESULT_STATE[action] == job.state
    else:
        assert response.status_code == 409
        assert response.json() == {
            "status": 409,
            "code": "invalid_transition",
            "detail": f"Cannot {action} a job that is {state}.",
            "errors": {},
        }
        assert job.state == state


@pytest.mark.parametrize("state", ALL_STATES)
def test_trigger_queues_an_execution_now_unless_the_job_is_cancelled(alice, make_job, state):
    job = job_in(make_job, state)
    next_run_at = job.next_run_at

    response = alice.post(f"/api/v1/jobs/{job.pk}/trigger")

    job.refresh_from_db()
    if state in ALLOWED["trigger"]:
        assert response.status_code == 202
        body = response.json()
        execution = Execution.objects.get(pk=body["id"])
        assert execution.job_id == job.pk
        assert body["state"] == "queued"
        assert body["attempt"] == 1
        assert body["job"] == str(job.pk)
        assert abs(parse_datetime(body["run_after"]) - timezone.now()) < timedelta(seconds=5)
        assert job.next_run_at == next_run_at  # the schedule is undisturbed
    else:
        assert response.status_code == 409
        assert not job.executions.exists()


def test_resume_restarts_from_the_next_occurrence(alice, make_job):
    job = make_job(interval_seconds=60)
    alice.post(f"/api/v1/jobs/{job.pk}/pause")

    body = alice.post(f"/api/v1/jobs/{job.pk}/resume").json()

    assert body["state"] == "active"
    assert parse_datetime(body["next_run_at"]) > timezone.now()
    assert len(body["upcoming_runs"]) == 5


def test_cancel_cancels_queued_executions_and_asks_running_ones_to_stop(
    alice, make_job, make_execution
):
    job = make_job()
    queued = make_execution(job, ExecutionState.QUEUED)
    running = make_execution(job, ExecutionState.RUNNING, attempt=2)

    alice.post(f"/api/v1/jobs/{job.pk}/cancel")

    queued.refresh_from_db()
    running.refresh_from_db()
    assert queued.state == ExecutionState.CANCELLED
    assert running.state == ExecutionState.RUNNING
    assert running.cancel_requested


# --- reschedule -------------------------------------------------------------------------


def test_rescheduling_with_run_at_makes_a_one_time_job(alice, make_job):
    job = make_job()

    response = alice.post(
        f"/api/v1/jobs/{job.pk}/reschedule", {"run_at": "2031-01-01T12:00:00+01:00"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["schedule_type"] == "once"
    assert body["interval_seconds"] is None
    assert body["next_run_at"] == "2031-01-01T11:00:00Z"
    assert body["upcoming_runs"] == ["2031-01-01T11:00:00Z"]


def test_rescheduling_to_cron_clears_the_old_schedule_fields(alice, make_job):
    job = make_job()

    body = alice.post(
        f"/api/v1/jobs/{job.pk}/reschedule",
        {"schedule_type": "cron", "cron": "30 7 * * 1-5", "timezone": "Europe/Paris"},
    ).json()

    assert (body["schedule_type"], body["cron"], body["interval_seconds"]) == (
        "cron",
        "30 7 * * 1-5",
        None,
    )
    assert all(parse_datetime(run).weekday() < 5 for run in body["upcoming_runs"])


@pytest.mark.parametrize("state", ["completed", "failed"])
def test_rescheduling_a_finished_one_time_job_makes_it_active(alice, make_job, state):
    job = make_job(schedule_type="once", interval_seconds=None, run_at=timezone.now())
    Job.objects.filter(pk=job.pk).update(state=state, next_run_at=None)

    body = alice.post(
        f"/api/v1/jobs/{job.pk}/reschedule", {"run_at": "2031-01-01T00:00:00Z"}
    ).json()

    assert body["state"] == "active"
    assert body["next_run_at"] == "2031-01-01T00:00:00Z"


def test_rescheduling_a_cancelled_job_is_409(alice, make_job):
    job = job_in(make_job, JobState.CANCELLED)

    response = alice.post(f"/api/v1/jobs/{job.pk}/reschedule", {"run_at": "2031-01-01T00:00Z"})

    assert response.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "run_at"),  # nothing to change
        ({"run_at": "2031-01-01T00:00:00"}, "run_at"),  # no offset
        ({"schedule_type": "cron", "cron": "every day"}, "cron"),
        ({"schedule_type": "interval"}, "interval_seconds"),
        ({"interval_seconds": "soon"}, "interval_seconds"),
        ({"name": "renamed"}, "name"),  # not a schedule field
        ({"timezone": "Atlantis/Capital", "schedule_type": "cron", "cron": "@daily"}, "timezone"),
    ],
)
def test_an_invalid_reschedule_is_400_and_changes_nothing(alice, make_job, body, field):
    job = make_job()

    response = alice.post(f"/api/v1/jobs/{job.pk}/reschedule", body, format="json")

    assert response.status_code == 400
    assert field in response.json()["errors"]
    job.refresh_from_db()
    assert (job.schedule_type, job.interval_seconds) == ("interval", 3600)


def test_editing_a_cancelled_job_is_409(alice, make_job):
    job = job_in(make_job, JobState.CANCELLED)

    response = alice.patch(f"/api/v1/jobs/{job.pk}", {"priority": 3})

    assert response.status_code == 409
    assert response.json()["detail"] == "Cannot edit a job that is cancelled."


# --- history ----------------------------------------------------------------------------


def test_the_history_lists_a_jobs_attempts_newest_occurrence_first(alice, make_job, make_execution):
    job = make_job()
    other = make_job(name="other")
    earlier = timezone.now() - timedelta(hours=1)
    first = make_execution(job, ExecutionState.FAILED, scheduled_for=earlier)
    second = make_execution(job, ExecutionState.SUCCEEDED, scheduled_for=earlier, attempt=2)
    latest = make_execution(job, ExecutionState.QUEUED)
    make_execution(other, ExecutionState.QUEUED)

    body = alice.get(f"/api/v1/jobs/{job.pk}/executions").json()

    assert body["count"] == 3
    assert [e["id"] for e in body["results"]] == [latest.pk, second.pk, first.pk]
    assert body["results"][1]["job_name"] == "hourly"
    assert body["results"][1]["duration_seconds"] == pytest.approx(2, abs=0.1)


def test_the_history_is_paginated(alice, make_job, make_execution):
    job = make_job()
    for attempt in range(1, 4):
        make_execution(job, ExecutionState.FAILED, attempt=attempt)

    body = alice.get(f"/api/v1/jobs/{job.pk}/executions", {"page_size": 2}).json()

    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None
