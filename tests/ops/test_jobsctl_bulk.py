"""`jobsctl retry-all` and `cancel-all` (executions), `pause-all` and `resume-all` (jobs):
every row the filters match, each audited as made by the OS user; no filter is a one-line
refusal that changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState, JobState
from tests.ops.test_jobsctl import (
    cron_job,
    finished_execution,
    jobsctl,
    jobsctl_json,
    os_user,  # noqa: F401 - the autouse fixture
    refusal,
)

pytestmark = pytest.mark.django_db


def test_retry_all_retries_the_dead_letters_of_a_handler_and_audits_each():
    noop, other = cron_job("noop job"), cron_job("sleepy", handler="sleep", payload={"seconds": 1})
    for job in (noop, other):
        for n in range(3):
            dead = finished_execution(job, ExecutionState.DEAD)
            Execution.objects.filter(pk=dead.pk).update(
                scheduled_for=timezone.now() - timedelta(minutes=n + 1)
            )
    assert jobsctl_json("retry-all", "--state", "dead", "--handler", "noop") == {"count": 3}
    retried = Execution.objects.filter(attempt=2, state=ExecutionState.QUEUED)
    assert {e.job_id for e in retried} == {noop.pk} and retried.count() == 3
    events = AuditEvent.objects.filter(action="retry")
    assert events.count() == 3 and {e.via for e in events} == {"jobsctl"}
    assert jobsctl("retry-all", "--state", "dead", "--handler", "noop").strip() == (
        "Retried 0 executions."
    )


def test_cancel_all_cancels_the_queued_ones_of_a_queue():
    job = cron_job()
    for n in range(4):
        Execution.objects.create(
            job=job,
            scheduled_for=timezone.now() + timedelta(hours=n),
            state=ExecutionState.QUEUED,
            queue="default",
            run_after=timezone.now(),
        )
    assert jobsctl("cancel-all", "--queue", "default").strip() == "Cancelled 4 executions."
    assert set(Execution.objects.values_list("state", flat=True)) == {ExecutionState.CANCELLED}


def test_without_a_filter_nothing_changes():
    job = cron_job()
    finished_execution(job, ExecutionState.DEAD)
    assert "Give at least one of --state" in refusal("retry-all")
    assert not Execution.objects.filter(attempt=2).exists()


def test_pause_all_then_resume_all_change_the_jobs_of_a_search_each_audited():
    reports = [cron_job(f"report {n}") for n in range(3)]
    other = cron_job("cleanup")

    assert jobsctl("pause-all", "--search", "report").strip() == "Paused 3 jobs."
    assert {j.state for j in Job.objects.filter(pk__in=[r.pk for r in reports])} == {
        JobState.PAUSED
    }
    assert Job.objects.get(pk=other.pk).state == JobState.ACTIVE
    events = AuditEvent.objects.filter(action="pause")
    assert events.count() == 3 and {e.via for e in events} == {"jobsctl"}

    assert jobsctl_json("resume-all", "--state", "paused") == {"count": 3}
    assert set(Job.objects.values_list("state", flat=True)) == {JobState.ACTIVE}


def test_pause_all_without_a_filter_changes_nothing():
    cron_job()
    assert refusal("pause-all") == (
        "Give at least one of --state, --queue, --handler, --search: "
        "this acts on every job that matches."
    )
    assert not Job.objects.filter(state=JobState.PAUSED).exists()
