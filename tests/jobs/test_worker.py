"""The worker as real processes against PostgreSQL: exactly once, crashes, signals, retries."""

import itertools
import logging
import signal
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs import engine, services
from jobs.models import Execution, Job, Worker
from jobs.states import ExecutionState, JobState
from jobs.worker import Running, WorkerProcess
from tests.conftest import wait_for
from tests.runlog.models import RunLog

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def make_job(owner=None, **fields):
    defaults = {
        "name": "probe",
        "handler": "probe",
        "payload": {"mode": "record"},
        "schedule_type": "once",
        "run_at": timezone.now(),
    }
    return services.job_create(owner=owner, **{**defaults, **fields})


def executions_in(state, **filters):
    return Execution.objects.filter(state=state, **filters).count()


def test_four_workers_run_two_thousand_jobs_exactly_once(start_worker):
    jobs = [make_job(name=f"job {i}") for i in range(2000)]
    workers = [start_worker("--burst", "--concurrency", "4") for _ in range(4)]
    for worker in workers:
        assert worker.wait(timeout=180) == 0, worker.output()

    runs = list(RunLog.objects.values_list("job_id", flat=True))
    assert len(runs) == 2000
    assert set(runs) == {job.pk for job in jobs}  # none missing, and with 2000 rows: no duplicate
    assert executions_in(ExecutionState.SUCCEEDED) == 2000
    assert Execution.objects.count() == 2000
    assert Job.objects.filter(state=JobState.COMPLETED).count() == 2000
    assert RunLog.objects.values("pid").distinct().count() > 1  # the work was shared
    assert Worker.objects.filter(stopped_at__isnull=False).count() == 4


def test_sigkilled_worker_holding_executions_is_rescued_by_another(start_worker):
    jobs = [
        make_job(name=f"long {i}", payload={"mode": "sleep", "seconds": 60, "sleep_attempts": [1]})
        for i in range(3)
    ]
    doomed = start_worker("--concurrency", "3")
    wait_for(lambda: executions_in(ExecutionState.RUNNING) == 3, message="3 running")
    wait_for(lambda: RunLog.objects.count() == 3, message="3 handlers started")
    doomed.signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    killed_at = timezone.now()

    rescuer = start_worker("--concurrency", "3")
    wait_for(
        lambda: executions_in(ExecutionState.SUCCEEDED) == 3,
        timeout=60,
        message="the rescued attempts to succeed",
    )
    for job in jobs:
        history = list(job.executions.order_by("attempt"))
        assert [(e.attempt, e.state) for e in history] == [
            (1, ExecutionState.FAILED),
            (2, ExecutionState.SUCCEEDED),
        ]
        assert "Worker lost" in history[0].error
        assert history[0].worker.pid == doomed.pid
        assert history[1].worker.pid == rescuer.pid
        # Never twice at once: the second attempt began after the first one's worker died.
        assert history[1].started_at >= killed_at
    assert executions_in(ExecutionState.RUNNING) == 0


def test_sigterm_lets_the_running_job_finish_and_exits_zero(start_worker):
    job = make_job(payload={"mode": "sleep", "seconds": 2})
    worker = start_worker()
    wait_for(lambda: RunLog.objects.filter(job_id=job.pk).exists(), message="the job to start")
    worker.signal(signal.SIGTERM)

    assert worker.wait(timeout=30) == 0, worker.output()
    execution = job.executions.get()
    assert execution.state == ExecutionState.SUCCEEDED
    assert execution.result == {"mode": "sleep", "value": None, "attempt": 1}
    assert executions_in(ExecutionState.RUNNING) == 0
    assert Worker.objects.get(pid=worker.pid).stopped_at is not None


def test_sigterm_past_the_grace_period_releases_the_job_to_the_queue(start_worker):
    job = make_job(payload={"mode": "hang"})
    worker = start_worker(env={"WORKER_SHUTDOWN_GRACE_SECONDS": "1"})
    wait_for(lambda: RunLog.objects.filter(job_id=job.pk).exists(), message="the job to start")
    worker.signal(signal.SIGTERM)

    assert worker.wait(timeout=30) == 0, worker.output()
    execution = job.executions.get()
    assert execution.state == ExecutionState.QUEUED
    assert execution.worker is None
    assert "Released 1 unfinished" in worker.output()


def test_second_signal_exits_at_once(start_worker):
    make_job(payload={"mode": "hang"})
    worker = start_worker()
    wait_for(lambda: RunLog.objects.exists(), message="the job to start")
    worker.signal(signal.SIGTERM)
    time.sleep(0.3)
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=5) == 1
    assert "Second signal" in worker.output()


def test_always_failing_job_is_tried_three_times_with_backoff_then_dead(start_worker):
    job = make_job(payload={"mode": "fail"}, max_retries=2, retry_backoff_seconds=1)
    start_worker()
    wait_for(lambda: executions_in(ExecutionState.DEAD) == 1, timeout=30, message="a dead letter")

    history = list(job.executions.order_by("attempt"))
    assert [(e.attempt, e.state) for e in history] == [
        (1, ExecutionState.FAILED),
        (2, ExecutionState.FAILED),
        (3, ExecutionState.DEAD),
    ]
    assert all("probe failed on attempt" in e.error for e in history)
    assert "RuntimeError" in history[2].traceback
    # Backoff: base 1 s, doubling: at least 1 s then 2 s between attempts.
    assert history[1].started_at - history[0].finished_at >= timedelta(seconds=1)
    assert history[2].started_at - history[1].finished_at >= timedelta(seconds=2)
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_recurring_job_keeps_its_schedule_when_an_occurrence_dies(start_worker):
    job = make_job(
        schedule_type="interval",
        run_at=None,
        interval_seconds=1,
        payload={"mode": "fail"},
        max_retries=0,
    )
    start_worker()
    wait_for(lambda: executions_in(ExecutionState.DEAD) >= 2, timeout=30, message="two dead")
    job.refresh_from_db()
    assert job.state == JobState.ACTIVE
    assert job.next_run_at is not None


def test_interval_job_runs_on_schedule_across_two_workers_without_duplicates(start_worker):
    job = make_job(schedule_type="interval", run_at=None, interval_seconds=1)
    start_worker()
    start_worker()
    # Both workers must take part, so the absence of duplicates is not for lack of
    # competition; which one wins each occurrence is a race, so wait until each has won one.
    wait_for(
        lambda: (
            RunLog.objects.filter(job_id=job.pk).count() >= 5
            and RunLog.objects.filter(job_id=job.pk).values("pid").distinct().count() == 2
        ),
        timeout=40,
        message="5 runs, by both workers",
    )
    Job.objects.filter(pk=job.pk).update(state=JobState.PAUSED)
    time.sleep(1)

    occurrences = list(
        job.executions.order_by("scheduled_for").values_list("scheduled_for", flat=True)
    )
    runs = RunLog.objects.filter(job_id=job.pk).count()
    assert len(occurrences) == len(set(occurrences)) == runs
    gaps = {b - a for a, b in itertools.pairwise(occurrences)}
    assert gaps == {timedelta(seconds=1)}
    assert Execution.objects.values("worker__pid").distinct().count() == 2


def test_hung_handler_gives_its_slot_back_after_the_timeout(start_worker):
    hung = make_job(name="hung", payload={"mode": "hang"}, timeout_seconds=1, max_retries=0)
    start_worker("--concurrency", "1")
    wait_for(
        lambda: executions_in(ExecutionState.DEAD, job=hung) == 1, timeout=20, message="timeout"
    )
    after = make_job(name="after")
    wait_for(
        lambda: executions_in(ExecutionState.SUCCEEDED, job=after) == 1,
        timeout=20,
        message="the next job to run in the freed slot",
    )
    assert "Timed out after 1 s" in hung.executions.get().error


def test_running_execution_is_cancelled_cooperatively(start_worker):
    job = make_job(payload={"mode": "sleep", "seconds": 60})
    start_worker()
    wait_for(lambda: RunLog.objects.filter(job_id=job.pk).exists(), message="the job to start")
    execution = job.executions.get()
    services.execution_cancel(execution=execution)
    wait_for(
        lambda: executions_in(ExecutionState.CANCELLED, job=job) == 1,
        timeout=10,
        message="the running execution to stop",
    )


def test_new_job_starts_quickly_through_listen_notify(start_worker):
    # The poll interval must stay below the lease, so the lease is longer here.
    start_worker("--poll-interval", "30", env={"WORKER_LEASE_SECONDS": "60"})
    wait_for(lambda: Worker.objects.filter(stopped_at__isnull=True).exists(), message="worker up")
    time.sleep(1)  # let it settle into its idle wait (30 s: only a NOTIFY wakes it early)
    job = make_job()
    wait_for(
        lambda: RunLog.objects.filter(job_id=job.pk).exists(),
        timeout=5,
        message="the notified worker to start the job",
    )


def test_burst_in_process_drains_due_work_and_returns():
    jobs = [make_job(name=f"in-process {i}") for i in range(5)]
    future = make_job(name="later", run_at=timezone.now() + timedelta(hours=1))
    call_command("runworker", burst=True, concurrency=2)
    assert RunLog.objects.count() == 5
    assert {r.job_id for r in RunLog.objects.all()} == {j.pk for j in jobs}
    assert not future.executions.exists()


def test_sigterm_keeps_heartbeating_while_the_running_job_finishes(start_worker):
    # The job outlives the lease (3 s in tests): without heartbeats while it finishes, the
    # peer would rescue it and run it a second time.
    job = make_job(payload={"mode": "sleep", "seconds": 6})
    worker = start_worker()
    wait_for(lambda: RunLog.objects.filter(job_id=job.pk).exists(), message="the job to start")
    peer = start_worker()
    worker.signal(signal.SIGTERM)

    assert worker.wait(timeout=30) == 0, worker.output()
    assert [(e.attempt, e.state) for e in job.executions.all()] == [
        (1, ExecutionState.SUCCEEDED)
    ], peer.output()
    assert RunLog.objects.filter(job_id=job.pk).count() == 1


def test_idle_wait_never_outlasts_the_heartbeat_interval(settings):
    settings.WORKER_HEARTBEAT_SECONDS = 5
    process = WorkerProcess(queues=["default"], poll_interval=60)
    process.lease.last = time.monotonic()
    assert 4 < process._idle_timeout() <= 5
    process.lease.last -= 10  # overdue
    assert process._idle_timeout() == 0


def test_heartbeat_log_lines_carry_the_execution_fields(caplog):
    job = make_job(schedule_type="cron", run_at=None, cron="0 0 1 1 *")
    asked, lost = services.job_trigger(job=job), services.job_trigger(job=job)
    process = WorkerProcess(queues=["default"], name="w1")
    process._register()
    claimed = engine.executions_claim(
        process.db(), worker_id=process.worker_id, queues=["default"], limit=2
    )
    # One runs here and was asked to stop; the other's claim reply was lost.
    process.running[asked.pk] = Running(next(e for e in claimed if e.id == asked.pk))
    services.execution_cancel(execution=asked)
    with caplog.at_level(logging.INFO, logger="jobs.worker"):
        process.lease.renew()
    process._reset_db()
    cancelling, releasing = caplog.records
    assert (cancelling.execution_id, cancelling.job_id, cancelling.attempt) == (
        asked.pk,
        str(job.pk),
        1,
    )
    assert cancelling.worker == "w1"
    assert (releasing.execution_ids, releasing.worker) == ([lost.pk], "w1")
