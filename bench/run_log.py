"""Per-run logs: what keeping a handler's log with its execution costs the handler.

A handler logs 10,000 lines through ctx.logger in a real worker, whose logging is at INFO
(so each line is also formatted and written to the worker's stderr, as in production). Its
own run time (measured inside the handler) with the log kept (EXECUTION_LOG_MAX_BYTES at its
default) is set against the same with none kept (0), alternating rounds; the medians.
"""

import statistics
import subprocess
import sys

import psycopg

from .common import ROOT, Figure, env_for, use_database
from .seed import reset

LINES = 10_000
ROUNDS = 5


def run_once(url: str, keep_bytes: int) -> tuple[float, int]:
    """One worker runs one bench_chatty job; its run time (s) and the log's length (bytes)."""
    import jobs

    reset(url)
    job = jobs.enqueue("bench_chatty", {"lines": LINES})
    env = env_for(
        url,
        SCHEDULER_HANDLER_MODULES="bench.handlers",
        LOG_LEVEL="INFO",
        EXECUTION_LOG_MAX_BYTES=str(keep_bytes),
    )
    subprocess.run(
        [sys.executable, "manage.py", "runworker", "--burst", "--concurrency", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=120,
    )
    with psycopg.connect(url) as conn:
        seconds, size = conn.execute(
            "SELECT (result->>'seconds')::float8, octet_length(log) FROM jobs_execution"
            " WHERE job_id = %s AND state = 'succeeded'",
            [job.pk],
        ).fetchone()
    return seconds, size


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    from . import handlers  # noqa: F401 - bench_chatty, registered here to enqueue it

    use_database(url)
    rounds = 1 if smoke else ROUNDS
    kept, none = [], []
    size = 0
    for _ in range(rounds):
        seconds, size = run_once(url, 64 * 1024)
        kept.append(seconds)
        none.append(run_once(url, 0)[0])
    return [
        Figure(
            "run_log",
            f"handler logging {LINES:,} lines, log kept",
            round(statistics.median(kept) * 1000, 1),
            "ms",
            baseline=round(statistics.median(none) * 1000, 1),
            baseline_name="the same with no log kept (EXECUTION_LOG_MAX_BYTES=0)",
            notes={
                "workload": f"{rounds} rounds each, alternating; worker logging at INFO",
                "kept_bytes": size,
                "kept_ms": [round(s * 1000, 1) for s in kept],
                "none_ms": [round(s * 1000, 1) for s in none],
                "target": "<= 1.1",
                "issue": "21",
            },
        )
    ]
