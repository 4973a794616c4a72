"""`jobsctl retry-all` and `cancel-all`: every execution the filters match, each audited as
made by the OS user; no filter is a one-line refusal that changes nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution
from jobs.states import ExecutionState
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
