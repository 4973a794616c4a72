"""Cron: 10,000 active recurring jobs falling due at once, materialised and run by 2 workers."""

import time

import psycopg

from .common import Figure, scaled, start_worker, summary, wait_for_worker
from .seed import NO_NOTIFICATIONS

FIRE_AFTER = 3.0  # seconds from seeding to the shared due time


def seed(url: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("TRUNCATE jobs_execution, jobs_job, jobs_worker RESTART IDENTITY CASCADE")
        conn.execute(
            f"""
            INSERT INTO jobs_job (id, name, handler, payload, schedule_type, cron, timezone,
                queue, priority, max_retries, retry_backoff_seconds, misfire_policy, state,
                next_run_at, created_at, updated_at, notify_on, notify_emails,
                notify_webhook_url, notify_webhook_secret, notify_digest_minutes)
            SELECT gen_random_uuid(), 'cron ' || g, 'noop', '{{}}', 'cron', '* * * * *', 'UTC',
                'default', 0, 3, 10, 'run_once', 'paused', NULL, now(), now(), {NO_NOTIFICATIONS}
            FROM generate_series(1, %s) AS g
            """,
            [n],
        )


def raw_materialise_seconds(url: str) -> float:
    """The ceiling: one set-based INSERT ... SELECT of every due occurrence."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "UPDATE jobs_job SET state = 'active', next_run_at = date_trunc('minute', now())"
        )
        started = time.perf_counter()
        conn.execute(
            """
            INSERT INTO jobs_execution (job_id, scheduled_for, attempt, state, queue, priority,
                run_after, cancel_requested, error, traceback, created_at)
            SELECT id, next_run_at, 1, 'queued', queue, priority, next_run_at, false, '', '', now()
            FROM jobs_job WHERE state = 'active' AND next_run_at <= now()
            FOR UPDATE SKIP LOCKED
            """
        )
        conn.execute("UPDATE jobs_job SET next_run_at = next_run_at + interval '1 minute'")
        elapsed = time.perf_counter() - started
        conn.rollback()
    return elapsed


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    n = 200 if smoke else scaled(10_000)
    seed(url, n)
    raw_seconds = raw_materialise_seconds(url)
    workers = [start_worker(url, "--concurrency", "10") for _ in range(2)]
    try:
        wait_for_worker(url, 2)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "UPDATE jobs_job SET state = 'active',"
                " next_run_at = date_trunc('second', now()) + make_interval(secs => %s)",
                [FIRE_AFTER],
            )
            conn.execute("NOTIFY jobs_scheduler, 'schedule:default'")
            # Only the occurrence set off here: on a slow run the jobs' next minute may come
            # round (and be queued) before all of this one has run.
            first = "scheduled_for = (SELECT min(scheduled_for) FROM jobs_execution)"
            deadline = time.monotonic() + 120
            while (
                conn.execute(
                    f"SELECT count(*) FROM jobs_execution WHERE state = 'succeeded' AND {first}"
                ).fetchone()[0]
                < n
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError("cron jobs did not all run")
                time.sleep(0.1)
            rows = conn.execute(
                "SELECT extract(epoch FROM created_at - scheduled_for),"
                f" extract(epoch FROM started_at - scheduled_for) FROM jobs_execution WHERE {first}"
            ).fetchall()
            advanced = conn.execute(
                "SELECT count(*) FROM jobs_job WHERE next_run_at > now()"
            ).fetchone()[0]
    finally:
        for worker in workers:
            worker.terminate()
            worker.wait()
    fired = summary([float(r[0]) * 1000 for r in rows])
    started = summary([float(r[1]) * 1000 for r in rows])
    span = max(float(r[0]) for r in rows) - min(float(r[0]) for r in rows)
    rate = n / span if span > 0 else float(n)
    workload = f"{n:,} '* * * * *' jobs due at the same second; 2 workers, concurrency 10"
    if advanced != n:
        raise RuntimeError(f"only {advanced} of {n} jobs moved to their next minute")
    return [
        Figure(
            "cron",
            "fired late (materialised) p50",
            round(fired["p50"], 1),
            "ms",
            notes={"workload": workload},
        ),
        Figure(
            "cron",
            "fired late (materialised) p99",
            round(fired["p99"], 1),
            "ms",
            notes={"workload": workload},
        ),
        Figure(
            "cron", "started late p50", round(started["p50"], 1), "ms", notes={"workload": workload}
        ),
        Figure(
            "cron", "started late p99", round(started["p99"], 1), "ms", notes={"workload": workload}
        ),
        Figure(
            "cron",
            "materialisation rate",
            round(rate, 1),
            "jobs/s",
            baseline=round(n / raw_seconds, 1),
            baseline_name="one set-based INSERT ... SELECT",
            notes={"workload": workload},
        ),
    ]
