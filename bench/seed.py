"""Fill the benchmark database fast, with set-based SQL."""

import psycopg

JOB_COLUMNS = """
    id, name, handler, payload, schedule_type, run_at, cron, timezone, queue, priority,
    max_retries, retry_backoff_seconds, misfire_policy, state, next_run_at, created_at, updated_at,
    notify_on, notify_emails, notify_webhook_url, notify_webhook_secret, notify_digest_minutes
"""
NO_NOTIFICATIONS = "'[]', '[]', '', '', 15"


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs_execution, jobs_job, jobs_worker RESTART IDENTITY CASCADE")


def due_noop_jobs(url: str, n: int, *, state: str = "queued", run_after: str = "now()") -> None:
    """Insert `n` one-time no-op jobs, each with one execution in `state`."""
    with psycopg.connect(url) as conn:
        conn.execute(
            f"""
            INSERT INTO jobs_job ({JOB_COLUMNS})
            SELECT gen_random_uuid(), 'bench ' || g, 'noop', '{{}}', 'once', now(), '', 'UTC',
                   'default', 0, 3, 10, 'run_once', 'active', NULL, now(), now(),
                   {NO_NOTIFICATIONS}
            FROM generate_series(1, %s) AS g
            """,
            [n],
        )
        finished = "now()" if state not in ("queued", "running") else "NULL"
        started = "now()" if state != "queued" else "NULL"
        conn.execute(
            f"""
            INSERT INTO jobs_execution (job_id, scheduled_for, attempt, state, queue, priority,
                run_after, cancel_requested, error, traceback, created_at, started_at, finished_at)
            SELECT j.id, j.run_at, 1, %s, 'default', 0, {run_after}, false, '', '', now(),
                   {started}, {finished}
            FROM jobs_job j LEFT JOIN jobs_execution e ON e.job_id = j.id
            WHERE e.id IS NULL
            """,
            [state],
        )
        conn.execute("ANALYZE jobs_job")
        conn.execute("ANALYZE jobs_execution")


def drain_seconds(url: str) -> float:
    """Seconds from the first claim to the last completion of the current executions."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM max(finished_at) - min(started_at)),"
            " count(*) FILTER (WHERE state = 'succeeded'), count(*) FROM jobs_execution"
        ).fetchone()
    seconds, succeeded, total = row
    if succeeded != total:
        raise RuntimeError(f"only {succeeded} of {total} executions succeeded")
    return float(seconds)
