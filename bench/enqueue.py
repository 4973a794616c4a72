"""Enqueue: jobs.enqueue one at a time and a bulk enqueue, against raw INSERTs of the same rows."""

import time
import uuid

import psycopg

from .common import Figure, scaled, use_database
from .seed import JOB_COLUMNS, NO_NOTIFICATIONS, reset

INSERT_JOB = f"""
    INSERT INTO jobs_job ({JOB_COLUMNS})
    VALUES (%s, 'raw', 'noop', '{{}}', 'once', now(), '', 'UTC', 'default', 0, 3, 10,
            'run_once', 'active', NULL, now(), now(), {NO_NOTIFICATIONS})
"""
INSERT_EXECUTION = """
    INSERT INTO jobs_execution (job_id, scheduled_for, attempt, state, queue, priority,
        run_after, cancel_requested, error, traceback, created_at)
    VALUES (%s, now(), 1, 'queued', 'default', 0, now(), false, '', '', now())
"""


# raw_bulk's rows after the id, in seed.JOB_COLUMNS and RAW_EXECUTION_COLUMNS order.
RAW_JOB = ("raw", "noop", "{}", "once", "now", "", "UTC", "default", 0, 3, 10, "run_once")
RAW_JOB += ("active", None, "now", "now", "[]", "[]", "", "", 15)
RAW_EXECUTION_COLUMNS = (
    "job_id, scheduled_for, attempt, state, queue, priority, run_after, cancel_requested,"
    " error, traceback, created_at"
)
RAW_EXECUTION = ("now", 1, "queued", "default", 0, "now", False, "", "", "now")


def raw_single(url: str, n: int) -> float:
    """One statement (so one transaction) per job: its row, its first execution, a NOTIFY."""
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        for _ in range(n):
            job_id = uuid.uuid4()
            conn.execute(
                f"WITH j AS ({INSERT_JOB}), e AS ({INSERT_EXECUTION})"
                " SELECT pg_notify('jobs_scheduler', 'queued:default')",
                [job_id, job_id],
            )
        return n / (time.perf_counter() - started)


def raw_bulk(url: str, n: int) -> float:
    """The same rows (job, first execution) streamed with COPY in one transaction: the
    fastest way in, without validation or audit."""
    columns = JOB_COLUMNS.replace("\n", " ")
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        ids = [uuid.uuid4() for _ in range(n)]
        with conn.cursor() as cursor:
            with cursor.copy(f"COPY jobs_job ({columns}) FROM STDIN") as copy:
                for job_id in ids:
                    copy.write_row((job_id, *RAW_JOB))
            with cursor.copy(f"COPY jobs_execution ({RAW_EXECUTION_COLUMNS}) FROM STDIN") as copy:
                for job_id in ids:
                    copy.write_row((job_id, *RAW_EXECUTION))
        conn.commit()
        return n / (time.perf_counter() - started)


def ours_single(n: int) -> float:
    import jobs

    started = time.perf_counter()
    for _ in range(n):
        jobs.enqueue("noop", {})
    return n / (time.perf_counter() - started)


def ours_bulk(n: int) -> float:
    import jobs

    started = time.perf_counter()
    jobs.enqueue_many("noop", [{} for _ in range(n)])
    return n / (time.perf_counter() - started)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    single_n = 50 if smoke else scaled(2_000)
    bulk_n = 200 if smoke else scaled(20_000)
    use_database(url)
    reset(url)
    raw1 = raw_single(url, single_n)
    reset(url)
    ours1 = ours_single(single_n)
    reset(url)
    raw_many = raw_bulk(url, bulk_n)
    reset(url)
    ours_many = ours_bulk(bulk_n)
    return [
        Figure(
            "enqueue",
            "jobs.enqueue, one per transaction",
            round(ours1, 1),
            "jobs/s",
            baseline=round(raw1, 1),
            baseline_name="raw INSERT job + execution + NOTIFY per transaction",
            notes={"workload": f"{single_n} one-time no-op jobs due now"},
        ),
        Figure(
            "enqueue",
            "bulk enqueue (jobs.enqueue_many)",
            round(ours_many, 1),
            "jobs/s",
            baseline=round(raw_many, 1),
            baseline_name="raw COPY of the jobs and executions in one transaction",
            notes={"workload": f"{bulk_n} one-time no-op jobs due now, one call"},
        ),
    ]
