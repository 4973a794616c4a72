"""Memory: one worker's resident set after 10,000 jobs and after 500,000, in one run.

A worker runs for weeks: whatever it keeps per job (a log, a cache, a dict that only grows)
shows as a resident set that keeps rising. One `runworker` drains 10,000 due no-op jobs; its
RSS is read from /proc; then 490,000 more are queued and drained by the same process, and its
RSS is read again. The target: the second within 10 % of the first.
"""

import signal
import time
from pathlib import Path

import psycopg

from .common import Figure, scaled, start_worker, wait_for_worker
from .seed import due_noop_jobs, reset

CONCURRENCY = 10


def rss_kib(pid: int) -> tuple[int, int]:
    """The process's resident set now and at its peak (VmRSS, VmHWM), in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def wait_drained(url: str, worker, timeout: float) -> None:
    """Until no execution is queued or running (the partial indexes make this cheap)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited {worker.returncode}")
            left = conn.execute(
                "SELECT (SELECT count(*) FROM jobs_execution WHERE state = 'queued')"
                " + (SELECT count(*) FROM jobs_execution WHERE state = 'running')"
            ).fetchone()[0]
            if left == 0:
                return
            time.sleep(0.5)
    raise RuntimeError(f"not drained in {timeout} s")


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    first = 200 if smoke else scaled(10_000)
    total = 2_000 if smoke else scaled(500_000)
    reset(url)
    worker = start_worker(url, "--concurrency", str(CONCURRENCY))
    try:
        wait_for_worker(url)
        started = time.monotonic()
        due_noop_jobs(url, first)
        wait_drained(url, worker, timeout=600)
        early, _ = rss_kib(worker.pid)
        # The rest in batches: a queue of 490,000 at once would measure the claim's scan
        # of a deep queue, not what the worker keeps.
        for batch in range(first, total, 50_000):
            due_noop_jobs(url, min(50_000, total - batch))
            wait_drained(url, worker, timeout=1200)
        late, peak = rss_kib(worker.pid)
        seconds = time.monotonic() - started
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    return [
        Figure(
            "memory",
            f"worker RSS after {total:,} jobs",
            round(late / 1024, 1),
            "MiB",
            baseline=round(early / 1024, 1),
            baseline_name=f"the same worker's RSS after {first:,}",
            notes={
                "workload": f"no-op jobs, one runworker at --concurrency {CONCURRENCY}",
                "peak_mib": round(peak / 1024, 1),
                "seconds": round(seconds),
                "target": "<= 1.1",
            },
        )
    ]
