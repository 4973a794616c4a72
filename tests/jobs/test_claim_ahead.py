"""Claiming ahead: a worker takes executions beyond its free slots, in queues without limits,
and holds them like running ones until a slot starts them (real worker processes)."""

import signal
import time
from itertools import pairwise

import pytest
from django.db import connection, transaction
from django.utils import timezone

from jobs import services
from jobs.models import Execution, Queue
from jobs.services.queues import queue_pause, queue_resume
from jobs.states import ExecutionState
from tests.conftest import wait_for
from tests.runlog.models import RunLog

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Claimed ahead and left waiting for the whole test, unless a test says otherwise.
KEEP_WAITING = {"WORKER_PREFETCH_WAIT_SECONDS": "60"}


def make_job(name, **payload):
    return services.job_create(
        owner=None,
        name=name,
        handler="probe",
        payload={"mode": "record", **payload},
        schedule_type="once",
        run_at=timezone.now(),
    )


def one_running_one_waiting(first, second):
    """Wait until `first` runs in its handler and `second` is claimed but not started."""
    wait_for(
        lambda: (
            RunLog.objects.filter(job_id=first.pk).exists()
            and Execution.objects.filter(job=second, state=ExecutionState.RUNNING).exists()
        ),
        message="one running and one claimed ahead",
    )
    assert not RunLog.objects.filter(job_id=second.pk).exists()


def test_an_execution_claimed_ahead_starts_when_the_slot_frees(start_worker):
    first = make_job("first", mode="sleep", seconds=3)
    second = make_job("second")
    worker = start_worker("--concurrency", "1", "--prefetch", "1", env=KEEP_WAITING)
    one_running_one_waiting(first, second)
    wait_for(
        lambda: Execution.objects.filter(state=ExecutionState.SUCCEEDED).count() == 2,
        message="both to succeed",
    )
    runs = {run.job_id: run for run in RunLog.objects.all()}
    # One slot: the second began only after the first ended, and in the same worker.
    assert runs[second.pk].started_at >= runs[first.pk].finished_at
    assert runs[second.pk].pid == runs[first.pk].pid == worker.pid
    assert second.executions.get().attempt == 1
    # Its record starts when its handler did, not when it was claimed: the wait for the
    # slot is not part of its duration.
    second_run = second.executions.get()
    assert second_run.started_at >= runs[first.pk].finished_at
    assert second_run.duration.total_seconds() < 1
    # Its claim is kept apart: taken while the first still ran.
    assert second_run.claimed_at < runs[first.pk].finished_at
    first_run = first.executions.get()
    assert first_run.claimed_at == first_run.started_at  # claimed into a free slot


def test_a_failed_or_cancelled_attempt_claimed_ahead_records_its_handler_s_start(start_worker):
    first = make_job("first", mode="sleep", seconds=2)
    failing = services.job_create(
        owner=None,
        name="failing",
        handler="probe",
        payload={"mode": "fail"},
        schedule_type="once",
        run_at=timezone.now(),
        max_retries=0,
    )
    start_worker("--concurrency", "1", "--prefetch", "1", env=KEEP_WAITING)
    one_running_one_waiting(first, failing)
    dead = wait_for(
        lambda: Execution.objects.filter(job=failing, state=ExecutionState.DEAD).first(),
        message="the failing one to be dead-lettered",
    )
    assert dead.started_at >= RunLog.objects.get(job_id=first.pk).finished_at
    assert dead.duration.total_seconds() < 1


def test_a_sigkilled_worker_s_claimed_ahead_executions_are_rescued(start_worker):
    first = make_job("first", mode="sleep", seconds=60, sleep_attempts=[1])
    second = make_job("second")
    doomed = start_worker("--concurrency", "1", "--prefetch", "1", env=KEEP_WAITING)
    one_running_one_waiting(first, second)
    doomed.signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    rescuer = start_worker("--concurrency", "2", "--prefetch", "0")
    wait_for(
        lambda: Execution.objects.filter(state=ExecutionState.SUCCEEDED).count() == 2,
        timeout=60,
        message="both rescued and run",
    )
    for job in (first, second):
        history = list(job.executions.order_by("attempt"))
        assert [(e.attempt, e.state) for e in history] == [
            (1, ExecutionState.FAILED),
            (2, ExecutionState.SUCCEEDED),
        ]
        assert "Worker lost" in history[0].error
        assert history[1].worker.pid == rescuer.pid
    # The one claimed ahead never ran in the killed worker: it ran once, in the rescuer.
    assert list(RunLog.objects.filter(job_id=second.pk).values_list("pid", flat=True)) == [
        rescuer.pid
    ]


def test_sigterm_gives_claimed_ahead_executions_back_at_once(start_worker):
    first = make_job("first", mode="sleep", seconds=5)
    second = make_job("second")
    worker = start_worker("--concurrency", "1", "--prefetch", "1", env=KEEP_WAITING)
    one_running_one_waiting(first, second)
    worker.signal(signal.SIGTERM)
    # Back in the queue while the running one still runs: another worker may take it now.
    wait_for(
        lambda: Execution.objects.filter(
            job=second, state=ExecutionState.QUEUED, worker__isnull=True
        ).exists(),
        message="the claimed-ahead execution back in the queue",
    )
    assert first.executions.get().state == ExecutionState.RUNNING

    assert worker.wait(timeout=30) == 0, worker.output()
    assert first.executions.get().state == ExecutionState.SUCCEEDED
    assert "Released 1 executions claimed ahead" in worker.output()
    assert not RunLog.objects.filter(job_id=second.pk).exists()

    start_worker("--burst").wait(timeout=30)
    execution = second.executions.get()  # none lost, none twice: one attempt, run once
    assert (execution.attempt, execution.state) == (1, ExecutionState.SUCCEEDED)
    assert RunLog.objects.filter(job_id=second.pk).count() == 1


def test_one_waiting_too_long_goes_back_for_another_worker(start_worker):
    first = make_job("first", mode="sleep", seconds=30)
    second = make_job("second")
    busy = start_worker(
        "--concurrency", "1", "--prefetch", "1", env={"WORKER_PREFETCH_WAIT_SECONDS": "3"}
    )
    one_running_one_waiting(first, second)
    idle = start_worker("--concurrency", "1")  # second is held by busy: idle waits
    wait_for(
        lambda: "Released 1 executions claimed ahead: it waited for a slot" in busy.output(),
        message="the wait to run out",
    )
    wait_for(
        lambda: RunLog.objects.filter(job_id=second.pk, finished_at__isnull=False).exists(),
        message="the second to run elsewhere",
    )
    run = RunLog.objects.get(job_id=second.pk)
    assert run.pid == idle.pid
    # It ran while the busy worker's only slot was still taken by the first.
    assert Execution.objects.get(job=first).state == ExecutionState.RUNNING
    assert second.executions.get().attempt == 1


def test_an_execution_cancelled_while_it_waits_never_starts(start_worker):
    first = make_job("first", mode="sleep", seconds=5)
    second = make_job("second")
    start_worker("--concurrency", "1", "--prefetch", "1", env=KEEP_WAITING)
    one_running_one_waiting(first, second)
    services.execution_cancel(execution=second.executions.get())
    wait_for(
        lambda: Execution.objects.filter(job=second, state=ExecutionState.CANCELLED).exists(),
        message="the waiting execution to end cancelled",
    )
    wait_for(lambda: first.executions.get().state == ExecutionState.SUCCEEDED, message="first done")
    assert not RunLog.objects.filter(job_id=second.pk).exists()


@pytest.mark.parametrize("limited", [False, True])
def test_only_queues_without_limits_are_claimed_ahead(start_worker, limited):
    if limited:
        # A limit the worker cannot reach: it still makes each claim exact, so slots only.
        Queue.objects.create(name="default", concurrency_limit=50)
    jobs = [make_job(f"job {i}", mode="sleep", seconds=0.3) for i in range(4)]
    worker = start_worker("--burst", "--concurrency", "1", "--prefetch", "1", env=KEEP_WAITING)
    assert worker.wait(timeout=60) == 0, worker.output()

    spans = sorted(
        (e.started_at, e.finished_at)
        for e in Execution.objects.filter(job__in=jobs, state=ExecutionState.SUCCEEDED)
    )
    assert len(spans) == 4
    # started_at is the claim's time: claimed ahead, an execution's span overlaps the one
    # before it; in a limited queue a claim is a start, and one slot never overlaps.
    overlapped = any(start < prev_end for (_, prev_end), (start, _) in pairwise(spans))
    assert overlapped is not limited


def test_pausing_the_queue_gives_back_what_waits_and_it_starts_after_the_resume(start_worker):
    first = make_job("first", mode="sleep", seconds=5)
    second = make_job("second")
    start_worker("--concurrency", "1", "--prefetch", "1", env=KEEP_WAITING)
    one_running_one_waiting(first, second)
    queue_pause(name="default")
    wait_for(
        lambda: Execution.objects.filter(
            job=second, state=ExecutionState.QUEUED, worker__isnull=True
        ).exists(),
        message="the waiting execution back in the paused queue",
    )
    wait_for(lambda: first.executions.get().state == ExecutionState.SUCCEEDED, message="first done")
    time.sleep(0.5)  # a free slot, and the paused queue's execution still waits
    assert not RunLog.objects.filter(job_id=second.pk).exists()

    resumed_at = timezone.now()
    queue_resume(name="default")
    wait_for(
        lambda: second.executions.filter(state=ExecutionState.SUCCEEDED).exists(),
        message="the second to run after the resume",
    )
    assert RunLog.objects.get(job_id=second.pk).started_at >= resumed_at


def test_a_single_slot_claims_past_its_concurrency_once_its_runs_are_short(start_worker):
    # Before any run a worker claims one ahead per slot; once its runs are known to take
    # milliseconds, up to WORKER_PREFETCH (40) ahead, since its slot starts them all well
    # within the wait. What a worker holds (running, or claimed ahead) is sampled while it
    # drains: a first run of 0.4 s (claimed first, by its priority), then 300 short ones.
    services.job_create(
        owner=None,
        name="first",
        handler="probe",
        payload={"mode": "sleep", "seconds": 0.4},
        schedule_type="once",
        run_at=timezone.now(),
        priority=10,
    )
    services.jobs_create_many(handler="probe", payloads=[{"mode": "sleep", "seconds": 0.01}] * 300)
    worker = start_worker("--burst", "--concurrency", "1")
    held = []  # (whether a run has ended, executions the worker holds), per sample
    while worker.proc.poll() is None:
        held.append(held_sample())
        time.sleep(0.01)
    assert worker.wait(timeout=60) == 0
    assert Execution.objects.filter(state=ExecutionState.SUCCEEDED).count() == 301
    during_first = [n for ended, n in held if not ended]
    assert during_first and max(during_first) <= 2  # the free slot and one ahead
    assert max(n for _, n in held) >= 20  # tens ahead (up to forty, and the slot)


def held_sample() -> tuple[bool, int]:
    """Whether any handler has ended, and how many executions are held, read from one
    snapshot (a repeatable-read transaction)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        ended = RunLog.objects.filter(finished_at__isnull=False).exists()
        return ended, Execution.objects.filter(state=ExecutionState.RUNNING).count()
