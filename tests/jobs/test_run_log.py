"""What a handler logs (ctx.logger) and reports (ctx.progress), kept with its execution: bounded,
written by the worker while the run goes on, there after a crash up to the last write, and
shown by the API (real worker processes, real PostgreSQL)."""

import signal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from jobs import services
from jobs.models import Execution
from jobs.registry import HandlerContext
from jobs.states import ExecutionState
from jobs.worker.run_log import CUT_MARKER, RunLog
from tests.conftest import wait_for

LIMIT = 64 * 1024
MARKER = CUT_MARKER.format(limit=LIMIT)


def test_a_log_keeps_what_fits_and_says_where_it_was_cut():
    log = RunLog(limit=200)
    for n in range(20):
        log.add(20, f"line {n}")
    text, progress = log.take(final=True)
    assert text.splitlines()[0].endswith("INFO line 0")
    assert text.endswith(CUT_MARKER.format(limit=200))
    assert len(text.removesuffix(CUT_MARKER.format(limit=200)).encode()) <= 201
    assert progress is None
    log.add(20, "after the cut")
    assert log.take(final=True) is None


def test_progress_is_a_percentage():
    log = RunLog(limit=100)
    ctx = HandlerContext(job=None, execution=None, attempt=1, logger=None, run_log=log)
    with pytest.raises(ValueError):
        ctx.progress(101)
    assert log.take(final=True) is None  # refused: nothing to write
    ctx.progress(12.6, "x" * 500)
    _, progress = log.take(final=True)
    assert progress == (13, "x" * 200)


def chatty(lines: int, then_sleep: float = 0):
    return services.job_create(
        owner=None,
        name="chatty",
        handler="chatty",
        payload={"lines": lines, "then_sleep": then_sleep},
        schedule_type="once",
        run_at=timezone.now(),
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_ten_thousand_lines_keep_the_first_64_kib_and_say_so(start_worker):
    job = chatty(10_000)
    worker = start_worker("--burst", "--concurrency", "1")
    assert worker.wait(timeout=60) == 0
    execution = Execution.objects.get(job=job)
    assert execution.state == ExecutionState.SUCCEEDED
    assert "INFO line 0 of 10000" in execution.log.splitlines()[0]
    assert execution.log.endswith(MARKER)
    assert len(execution.log.removesuffix(MARKER).encode()) <= LIMIT + 1
    assert (execution.progress, execution.progress_message) == (50, "logged 10000 lines")


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_log_and_progress_show_while_the_run_goes_on(start_worker, staff_user):
    job = chatty(3, then_sleep=4)
    start_worker("--concurrency", "1")
    api = APIClient()
    api.force_authenticate(staff_user)

    def shown():
        execution = Execution.objects.filter(job=job, state=ExecutionState.RUNNING).first()
        if execution is None:
            return None
        body = api.get(f"/api/v1/executions/{execution.pk}").json()
        return body if body["progress"] == 50 else None

    body = wait_for(shown, timeout=10, message="the progress while it runs")
    assert body["state"] == "running"
    assert [line.split(" ", 2)[2] for line in body["log"].splitlines()] == [
        "line 0 of 3",
        "line 1 of 3",
        "line 2 of 3",
    ]
    assert body["progress_message"] == "logged 3 lines"
    listed = api.get("/api/v1/executions").json()["results"][0]
    assert "log" not in listed  # lists leave the logs out


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_what_was_written_before_a_crash_stays(start_worker):
    job = chatty(5, then_sleep=60)
    doomed = start_worker("--concurrency", "1")
    wait_for(
        lambda: Execution.objects.filter(job=job, progress=50).exists(),
        message="the first write",
    )
    doomed.signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    execution = Execution.objects.get(job=job)
    assert len(execution.log.splitlines()) == 5
    assert execution.progress == 50


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_sleep_says_what_it_does_and_how_far_it_got(start_worker):
    job = services.job_create(
        owner=None,
        name="nap",
        handler="sleep",
        payload={"seconds": 2},
        schedule_type="once",
        run_at=timezone.now(),
    )
    worker = start_worker("--burst", "--concurrency", "1")
    assert worker.wait(timeout=30) == 0
    execution = Execution.objects.get(job=job)
    assert execution.log.splitlines()[0].endswith("INFO Sleeping 2 s")
    assert (execution.progress, execution.progress_message) == (100, "slept 2 of 2 s")
