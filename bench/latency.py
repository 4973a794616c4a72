"""Latency: enqueue-to-start for jobs enqueued one at a time: LISTEN/NOTIFY, polling only, and
the floor that psycopg alone reaches under the same pacing."""

import json
import subprocess
import sys
import time
import uuid

import psycopg

from .common import ROOT, Figure, scaled, start_worker, summary, use_database, wait_for_worker
from .enqueue import INSERT_EXECUTION, INSERT_JOB
from .seed import reset

RATE = 50  # jobs enqueued per second
CONCURRENCY = 4  # of the worker, and the raw listener's claim


def measure(url: str, n: int, *, listen: bool, keep_history: bool = False) -> tuple[dict, dict]:
    """Return the delays to start from the enqueue call, and from its commit (in ms); with
    `keep_history`, beside the executions already in the database."""
    if not keep_history:
        reset(url)
    use_database(url)
    from django.utils import timezone

    from jobs import services
    from jobs.models import Execution

    from . import handlers  # noqa: F401 - registers bench_clock in this process too

    worker = start_worker(
        url,
        "--concurrency",
        str(CONCURRENCY),
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
        ours = Execution.objects.filter(job_id__in=list(enqueued))
        while ours.exclude(state="succeeded").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("jobs did not start")
            time.sleep(0.05)
        # "Start" is the handler being called, as the handler itself saw the clock.
        starts = [
            (job_id, result["called_at"]) for job_id, result in ours.values_list("job_id", "result")
        ]
    finally:
        worker.terminate()
        worker.wait()
    from_call = [(at - enqueued[job_id]) * 1000 for job_id, at in starts]
    from_commit = [(at - committed[job_id]) * 1000 for job_id, at in starts]
    return summary(from_call), summary(from_commit)


def measure_raw(url: str, n: int) -> dict:
    """The floor under the same pacing: psycopg alone, one INSERT of a job and its execution
    with a NOTIFY, a listener in another process claiming on each notification (in ms from
    before the INSERT to the claim's return)."""
    reset(url)
    listener = subprocess.Popen(
        [sys.executable, "-m", "bench.raw_listen", url, str(n), str(CONCURRENCY)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        listener.stdout.readline()  # "listening"
        sent = {}
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(n):
                started = time.time()
                job_id = uuid.uuid4()
                [(execution_id,)] = conn.execute(
                    f"WITH j AS ({INSERT_JOB}), e AS ({INSERT_EXECUTION} RETURNING id)"
                    " SELECT id FROM e, pg_notify('jobs_scheduler', 'queued:default')",
                    [job_id, job_id],
                ).fetchall()
                sent[execution_id] = started
                time.sleep(max(0.0, 1 / RATE - (time.time() - started)))
        out, _ = listener.communicate(timeout=60)
    finally:
        listener.kill()
    claimed = {int(k): at for k, at in json.loads(out.splitlines()[-1]).items()}
    if len(claimed) != n:
        raise RuntimeError(f"the raw listener claimed {len(claimed)} of {n}")
    return summary([(claimed[i] - started) * 1000 for i, started in sent.items()])


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    n = 20 if smoke else scaled(500)
    notify = measure(url, n, listen=True)
    poll = measure(url, n, listen=False)
    raw = measure_raw(url, n)
    workload = (
        f"{n} jobs enqueued one at a time at {RATE}/s; 1 worker, concurrency {CONCURRENCY};"
        " start = the handler called"
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
    # Against the floor under the same pacing: what a commit and a claim cost on this
    # machine when nothing else is done (each idle round trip wakes a sleeping CPU).
    for p in ("p50", "p99"):
        figures.append(
            Figure(
                "latency",
                f"enqueue-to-start {p} vs the raw SQL floor",
                round(notify[0][p], 2),
                "ms",
                baseline=round(raw[p], 2),
                baseline_name="psycopg: INSERT job + execution + NOTIFY, LISTEN, claim UPDATE",
                notes={"workload": workload},
            )
        )
    return figures
