"""Latency: enqueue-to-start for jobs enqueued one at a time, LISTEN/NOTIFY vs polling only."""

import time

from .common import Figure, scaled, start_worker, summary, use_database, wait_for_worker
from .seed import reset

RATE = 50  # jobs enqueued per second


def measure(url: str, n: int, *, listen: bool) -> tuple[dict, dict]:
    """Return the delays to start from the enqueue call, and from its commit (in ms)."""
    reset(url)
    use_database(url)
    from django.utils import timezone

    from jobs import services
    from jobs.models import Execution

    from . import handlers  # noqa: F401 - registers bench_clock in this process too

    worker = start_worker(
        url,
        "--concurrency",
        "4",
        WORKER_LISTEN="1" if listen else "0",
        SCHEDULER_HANDLER_MODULES="bench.handlers",
    )
    try:
        wait_for_worker(url)
        enqueued, committed = {}, {}
        for i in range(n):
            started = time.time()
            job = services.job_create(
                name=f"latency {i}",
                handler="bench_clock",
                schedule_type="once",
                run_at=timezone.now(),
            )
            # job_create's transaction (autocommit outside) has committed when it returns.
            enqueued[job.pk], committed[job.pk] = started, time.time()
            time.sleep(max(0.0, 1 / RATE - (time.time() - started)))
        deadline = time.monotonic() + 30
        while Execution.objects.exclude(state="succeeded").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("jobs did not start")
            time.sleep(0.05)
        # "Start" is the handler being called, as the handler itself saw the clock.
        starts = [
            (job_id, result["called_at"])
            for job_id, result in Execution.objects.values_list("job_id", "result")
        ]
    finally:
        worker.terminate()
        worker.wait()
    from_call = [(at - enqueued[job_id]) * 1000 for job_id, at in starts]
    from_commit = [(at - committed[job_id]) * 1000 for job_id, at in starts]
    return summary(from_call), summary(from_commit)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    n = 20 if smoke else scaled(500)
    notify = measure(url, n, listen=True)
    poll = measure(url, n, listen=False)
    workload = (
        f"{n} jobs enqueued one at a time at {RATE}/s; 1 worker, concurrency 4; start = the"
        " handler called"
    )
    figures = []
    # From the call: what the caller waits for overall. From the commit: time in the queue,
    # the enqueue's own statements (job, execution, audit event, NOTIFY) left out.
    for i, start in enumerate(("enqueue", "commit")):
        for p in ("p50", "p95", "p99"):
            figures.append(
                Figure(
                    "latency",
                    f"{start}-to-start {p}, LISTEN/NOTIFY",
                    round(notify[i][p], 2),
                    "ms",
                    baseline=round(poll[i][p], 2),
                    baseline_name="polling only (WORKER_POLL_SECONDS=1)",
                    notes={"workload": workload},
                )
            )
    return figures
