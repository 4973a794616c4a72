"""A partition, the same whatever cuts the link (a relay, a kernel link in a namespace): a
worker running three long handlers is cut off from PostgreSQL, fences itself within its
lease, a second worker rescues and runs the three, and after the heal the first is back."""

import time

from django.utils import timezone

from jobs import services
from jobs.models import Execution
from jobs.states import ErrorCode, ExecutionState
from tests.conftest import WorkerProcess, wait_for
from tests.runlog.models import RunLog


def cut_and_heal(far: WorkerProcess, start_worker, *, cut, heal) -> tuple[float, float]:
    """Run the partition on `far` (a worker of concurrency 3 across the link `cut` and
    `heal` act on); return how long after the cut it fenced, and after the heal it was back."""
    jobs = [
        services.job_create(
            owner=None,
            name=f"long {n}",
            handler="probe",
            # The first attempt sleeps (cooperatively) for a minute; a rescue's is quick.
            payload={"mode": "sleep", "seconds": 60, "sleep_attempts": [1]},
            schedule_type="once",
            run_at=timezone.now(),
        )
        for n in range(3)
    ]
    wait_for(lambda: RunLog.objects.count() == 3, message="the three handlers to start")
    assert {log.pid for log in RunLog.objects.all()} == {far.pid}

    cut()
    cut_at = time.monotonic()
    start_worker("--concurrency", "3")  # the rescuer, connected directly
    wait_for(
        lambda: "Worker fenced: all 3 of its handlers stopped" in far.output(),
        timeout=10,
        message="the cut-off worker to fence itself and its handlers to stop",
    )
    fenced_after = time.monotonic() - cut_at
    assert fenced_after < 3  # WORKER_LEASE_SECONDS in the tests
    assert "stopped claiming and asked its 3 running handlers to stop" in far.output()
    wait_for(
        lambda: Execution.objects.filter(state=ExecutionState.SUCCEEDED).count() == 3,
        timeout=30,
        message="the rescuer to run the three again",
    )

    heal()
    healed_at = time.monotonic()
    wait_for(
        lambda: "fence lifted, claiming again" in far.output(),
        timeout=5,
        message="the cut-off worker to be back within 5 s of the heal",
    )
    back_after = time.monotonic() - healed_at
    for job in jobs:
        history = list(job.executions.order_by("attempt"))
        assert [(e.attempt, e.state, e.error_code) for e in history] == [
            (1, ExecutionState.FAILED, ErrorCode.WORKER_LOST),
            (2, ExecutionState.SUCCEEDED, ErrorCode.NONE),
        ]
    # Each ran twice: stopped by the fence, then whole by the rescuer; none ran on.
    assert RunLog.objects.count() == 6
    assert not RunLog.objects.filter(finished_at__isnull=False, pid=far.pid).exists()
    return fenced_after, back_after
