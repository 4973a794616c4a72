"""Connections: how many PostgreSQL connections one worker holds, by concurrency and by
whether its handlers use the ORM, for the README's connection planning.

For each --concurrency N, as many jobs as slots are queued and one `runworker` started; once
all N run, the server's pg_stat_activity is counted for the worker's application_name. Two
kinds of handler: `sleep` (no database: what a worker needs for itself) and
`bench_orm_sleep` (one ORM query, then asleep: Django opens one connection per handler
thread, kept for the thread's life).
"""

import signal
import time

import psycopg

from .common import Figure, start_worker, wait_for_worker
from .seed import due_noop_jobs, reset

NAME = "bench-worker"
KINDS = (("sleep", "no database"), ("bench_orm_sleep", "one ORM query"))


def connections(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [NAME]
        ).fetchone()[0]


def measure(url: str, *, handler: str, concurrency: int, seconds: float) -> int:
    reset(url)
    due_noop_jobs(url, concurrency)
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE jobs_job SET handler = %s, payload = %s",
            [handler, psycopg.types.json.Jsonb({"seconds": seconds})],
        )
    separator = "&" if "?" in url else "?"
    worker = start_worker(
        f"{url}{separator}application_name={NAME}",
        "--concurrency",
        str(concurrency),
        "--prefetch",
        "0",
        SCHEDULER_HANDLER_MODULES="bench.handlers",
    )
    try:
        wait_for_worker(url)
        deadline = time.monotonic() + seconds
        with psycopg.connect(url) as conn:
            while time.monotonic() < deadline:
                running = conn.execute(
                    "SELECT count(*) FROM jobs_execution WHERE state = 'running'"
                ).fetchone()[0]
                if running == concurrency:
                    break
                time.sleep(0.05)
        time.sleep(0.5)  # each handler past its first query
        return connections(url)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    sizes = (1, 2) if smoke else (1, 4, 16)
    seconds = 3.0 if smoke else 5.0
    figures = []
    for handler, kind in KINDS:
        for concurrency in sizes:
            held = measure(url, handler=handler, concurrency=concurrency, seconds=seconds)
            figures.append(
                Figure(
                    "connections",
                    f"one worker, --concurrency {concurrency}, handlers: {kind}",
                    held,
                    "conns",
                    baseline=concurrency,
                    baseline_name="its slots (--concurrency)",
                    notes={"handler": handler},
                )
            )
    return figures
