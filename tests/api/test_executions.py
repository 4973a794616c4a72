"""Executions through HTTP: the list and its filters, detail, retry and cancel."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from jobs.models import Execution, Job, Worker
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db

EXECUTIONS = "/api/v1/executions"
ALL_STATES = list(ExecutionState.values)


def ids(response):
    return sorted(e["id"] for e in response.json()["results"])


def test_the_list_shows_the_attempts_newest_first(alice, make_job, make_execution):
    job = make_job()
    old = make_execution(job, ExecutionState.SUCCEEDED, scheduled_for=timezone.now())
    new = make_execution(job, ExecutionState.QUEUED, attempt=2)

    body = alice.get(EXECUTIONS).json()

    assert [e["id"] for e in body["results"]] == [new.pk, old.pk]
    assert "traceback" not in body["results"][0]
    assert body["results"][1]["handler"] == "noop"


def test_state_dead_is_the_dead_letter_list(alice, make_job, make_execution):
    job = make_job()
    dead = make_execution(job, ExecutionState.DEAD, error="boom")
    make_execution(job, ExecutionState.FAILED, attempt=2)
    make_execution(job, ExecutionState.SUCCEEDED, attempt=3)

    assert ids(alice.get(EXECUTIONS, {"state": "dead"})) == [dead.pk]


def test_the_list_filters_by_job_queue_handler_and_worker(
    alice, make_job, make_execution, settings
):
    settings.QUOTA_QUEUES = ["default", "mail"]
    mail = make_job(queue="mail")
    sleeper = make_job(handler="sleep", payload={"seconds": 1})
    worker = Worker.objects.create(name="w1", hostname="h", pid=1)
    in_mail = make_execution(mail)
    in_sleep = make_execution(sleeper, ExecutionState.RUNNING, worker=worker)

    assert ids(alice.get(EXECUTIONS, {"job": str(mail.pk)})) == [in_mail.pk]
    assert ids(alice.get(EXECUTIONS, {"queue": "mail"})) == [in_mail.pk]
    assert ids(alice.get(EXECUTIONS, {"handler": "sleep"})) == [in_sleep.pk]
    assert ids(alice.get(EXECUTIONS, {"worker": "w1"})) == [in_sleep.pk]
    assert ids(alice.get(EXECUTIONS, {"state": ["queued", "running"]})) == sorted(
        [in_mail.pk, in_sleep.pk]
    )


def test_the_list_filters_by_date_ranges(alice, make_job, make_execution):
    job = make_job()
    jan = datetime(2030, 1, 15, tzinfo=UTC)
    mar = datetime(2030, 3, 15, tzinfo=UTC)
    early = make_execution(job, ExecutionState.SUCCEEDED, scheduled_for=jan, finished_at=jan)
    late = make_execution(job, ExecutionState.SUCCEEDED, scheduled_for=mar, finished_at=mar)
    Execution.objects.filter(pk=early.pk).update(created_at=jan)
    Execution.objects.filter(pk=late.pk).update(created_at=mar)

    cut = "2030-02-01T00:00:00Z"
    assert ids(alice.get(EXECUTIONS, {"scheduled_after": cut})) == [late.pk]
    assert ids(alice.get(EXECUTIONS, {"scheduled_before": cut})) == [early.pk]
    assert ids(alice.get(EXECUTIONS, {"finished_after": cut})) == [late.pk]
    assert ids(alice.get(EXECUTIONS, {"finished_before": cut})) == [early.pk]
    assert ids(alice.get(EXECUTIONS, {"created_before": cut})) == [early.pk]
    assert ids(alice.get(EXECUTIONS, {"created_after": cut})) == [late.pk]


@pytest.mark.parametrize(
    "params",
    [{"job": "not-a-uuid"}, {"state": "exploded"}, {"finished_after": "2030-13-45"}],
)
def test_a_filter_value_that_does_not_parse_is_400(alice, params):
    response = alice.get(EXECUTIONS, params)

    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(params)


def test_the_detail_has_the_traceback_and_result(alice, make_job, make_execution):
    execution = make_execution(
        make_job(),
        ExecutionState.DEAD,
        error="RuntimeError: nope",
        traceback="Traceback (most recent call last): ...",
        result=None,
    )

    body = alice.get(f"{EXECUTIONS}/{execution.pk}").json()

    assert body["traceback"].startswith("Traceback")
    assert body["error"] == "RuntimeError: nope"
    assert body["state"] == "dead"


# --- retry ------------------------------------------------------------------------------

RETRYABLE = {"dead", "cancelled"}


@pytest.mark.parametrize("state", ALL_STATES)
def test_retry_queues_the_next_attempt_only_of_dead_or_cancelled_executions(
    alice, make_job, make_execution, state
):
    job = make_job()
    execution = make_execution(job, state, attempt=4)

    response = alice.post(f"{EXECUTIONS}/{execution.pk}/retry")

    if state in RETRYABLE:
        assert response.status_code == 202
        body = response.json()
        assert (body["attempt"], body["state"]) == (5, "queued")
        retry = Execution.objects.get(pk=body["id"])
        assert retry.scheduled_for == execution.scheduled_for
    else:
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_transition"
        assert job.executions.count() == 1


def test_retrying_twice_is_409(alice, make_job, make_execution):
    execution = make_execution(make_job(), ExecutionState.DEAD)

    assert alice.post(f"{EXECUTIONS}/{execution.pk}/retry").status_code == 202
    assert alice.post(f"{EXECUTIONS}/{execution.pk}/retry").status_code == 409


def test_retrying_a_dead_run_of_a_failed_one_time_job_reactivates_the_job(
    alice, make_job, make_execution
):
    job = make_job(schedule_type="once", interval_seconds=None, run_at=timezone.now())
    job.executions.all().delete()
    Job.objects.filter(pk=job.pk).update(state=JobState.FAILED, next_run_at=None)
    execution = make_execution(job, ExecutionState.DEAD)

    alice.post(f"{EXECUTIONS}/{execution.pk}/retry")

    job.refresh_from_db()
    assert job.state == JobState.ACTIVE


def test_retrying_an_execution_of_a_cancelled_job_is_409(alice, make_job, make_execution):
    job = make_job()
    execution = make_execution(job, ExecutionState.DEAD)
    Job.objects.filter(pk=job.pk).update(state=JobState.CANCELLED)

    assert alice.post(f"{EXECUTIONS}/{execution.pk}/retry").status_code == 409


# --- cancel -----------------------------------------------------------------------------


def test_cancelling_a_queued_execution_cancels_it(alice, make_job, make_execution):
    execution = make_execution(make_job(), ExecutionState.QUEUED)

    response = alice.post(f"{EXECUTIONS}/{execution.pk}/cancel")

    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    execution.refresh_from_db()
    assert execution.state == ExecutionState.CANCELLED


def test_cancelling_a_running_execution_asks_it_to_stop(alice, make_job, make_execution):
    execution = make_execution(make_job(), ExecutionState.RUNNING)

    body = alice.post(f"{EXECUTIONS}/{execution.pk}/cancel").json()

    assert (body["state"], body["cancel_requested"]) == ("running", True)


@pytest.mark.parametrize("state", ["succeeded", "failed", "dead", "cancelled"])
def test_cancelling_a_finished_execution_is_409(alice, make_job, make_execution, state):
    execution = make_execution(make_job(), state)

    response = alice.post(f"{EXECUTIONS}/{execution.pk}/cancel")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert state in response.json()["detail"]
    execution.refresh_from_db()
    assert execution.state == state


def test_an_execution_id_that_is_not_a_number_is_404(alice):
    assert alice.get(f"{EXECUTIONS}/abc").status_code == 404


def test_executions_need_a_token(anon, make_job, make_execution):
    execution = make_execution(make_job(), ExecutionState.DEAD)

    assert anon.get(EXECUTIONS).status_code == 401
    assert anon.post(f"{EXECUTIONS}/{execution.pk}/retry").status_code == 401
    assert Execution.objects.count() == 1
