"""Latency: enqueue-to-start for jobs enqueued one at a time, LISTEN/NOTIFY vs polling only."""

import time

from .common import Figure, scaled, start_worker, summary, use_database, wait_for_worker
from .seed import reset

RATE = 50  # jobs enqueued per second


def measure(url: str, n: int, *, listen: bool) -> dict:
    reset(url)
    use_database(url)
    from django.utils import timezone

    from jobs import services
    from jobs.models import Execution

    worker = start_worker(url, "--concurrency", "4", WORKER_LISTEN="1" if listen else "0")
    try:
        wait_for_worker(url)
        enqueued = {}
        for i in range(n):
            started = time.time()
            job = services.job_create(
                name=f"latency {i}", handler="noop", schedule_type="once", run_at=timezone.now()
            )
            enqueued[job.pk] = started
            time.sleep(max(0.0, 1 / RATE - (time.time() - started)))
        deadline = time.monotonic() + 30
        while Execution.objects.filter(started_at__isnull=True).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("jobs did not start")
            time.sleep(0.05)
        delays = [
            (started_at.timestamp() - enqueued[job_id]) * 1000
            for job_id, started_at in Execution.objects.values_list("job_id", "started_at")
        ]
    finally:
        worker.terminate()
        worker.wait()
    return summary(delays)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    n = 20 if smoke else scaled(500)
    notify = measure(url, n, listen=True)
    poll = measure(url, n, listen=False)
    workload = f"{n} no-op jobs enqueued one at a time at {RATE}/s; 1 worker, concurrency 4"
    figures = []
    for p in ("p50", "p95", "p99"):
        figures.append(
            Figure(
                "latency",
                f"enqueue-to-start {p}, LISTEN/NOTIFY",
                round(notify[p], 2),
                "ms",
                baseline=round(poll[p], 2),
                baseline_name="polling only (WORKER_POLL_SECONDS=1)",
                notes={"workload": workload},
            )
        )
    return figures
