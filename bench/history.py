"""History: the engine beside a large finished history, and under a transaction held open.

- Claim time (10 at a time among 10,000 queued, rolled back) and enqueue-to-start latency
  with `HISTORY` finished executions (1M; BENCH_SCALE=10 for 10M) against an empty history.
- Claim time after `HOLD_SECONDS` of churn (enqueue 10, then record the last 10 and claim
  the next in one round trip, as a worker does) while another connection keeps a
  transaction open, against the same churn with none: the open snapshot keeps every row the
  churn leaves dead from vacuum, in the tables and indexes the claim reads.
- Retention: dropping a month of `HISTORY` finished executions (jobs.partitions.drop_expired,
  its in-use check included), against deleting as many rows of another month in one
  statement and the VACUUM that reclaims them (retention before the history was partitioned
  deleted them in batches of 500, which costs more).
"""

import contextlib
import threading
import time
from datetime import timedelta

import psycopg

from . import latency, scale
from .common import SCALE, Figure, scaled, summary, use_database
from .seed import JOB_COLUMNS, NO_NOTIFICATIONS, due_noop_jobs, reset

HISTORY = 1_000_000
QUEUED = 10_000
BATCH = 10
HOLD_SECONDS = 60  # x BENCH_SCALE: 600 s, the 10 minutes of a long report, at 10
LATENCY_JOBS = 1_000


def vacuum(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs_execution")
        conn.execute("VACUUM ANALYZE jobs_job")


def claims_and_latency(url: str, history: int, jobs: int) -> tuple[dict, dict]:
    """Enqueue-to-start latency, then claim time, beside `history` finished executions."""
    reset(url)
    if history:
        scale.seed_finished(url, history)
        vacuum(url)
    use_database(url)
    from_call, _ = latency.measure(url, jobs, listen=True, keep_history=True)
    due_noop_jobs(url, QUEUED)
    vacuum(url)
    claims, _ = scale.time_claims()
    return summary(claims), from_call


def churn(url: str, seconds: float, *, held: bool) -> dict:
    """Claim times over the last fifth of `seconds` of churn, with a transaction held open
    elsewhere or not."""
    reset(url)
    use_database(url)
    from jobs import engine, enqueue_many
    from jobs.engine import Outcome
    from jobs.models import Worker

    worker = Worker.objects.create(name="bench", hostname="bench", pid=0, queues=["default"])
    holder = psycopg.connect(url) if held else None
    if holder:
        # An xid, left uncommitted: no row deleted or updated after it can be vacuumed away.
        holder.execute("SELECT txid_current()")
    timings: list[tuple[float, float]] = []
    try:
        with engine.connect() as db:
            outcomes: list = []
            began = time.monotonic()
            while time.monotonic() - began < seconds:
                enqueue_many("noop", [{}] * BATCH)
                started = time.perf_counter()
                claim = engine.outcomes_record_and_claim(
                    db,
                    worker_id=worker.pk,
                    outcomes=outcomes,
                    queues=["default"],
                    limit=BATCH,
                    plain=True,
                )
                timings.append((time.monotonic() - began, (time.perf_counter() - started) * 1000))
                outcomes = [Outcome(row, "succeeded") for row in claim.executions]
    finally:
        if holder:
            holder.rollback()
            holder.close()
    late = [ms for at, ms in timings if at >= seconds * 0.8]
    return {**summary(late), "rounds": len(timings)}


def drop_a_month(url: str, rows: int) -> Figure:
    """Seconds to drop a month of `rows` finished executions, against deleting as many and
    vacuuming them away."""
    reset(url)
    use_database(url)
    from django.utils import timezone

    from jobs import partitions

    a_year_ago = partitions.month_start(timezone.now() - timedelta(days=365))
    dropped = partitions.month("jobs_execution", a_year_ago - timedelta(days=1))
    deleted = partitions.month("jobs_execution", a_year_ago)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {dropped.name}, {deleted.name}")
    for part in (dropped, deleted):
        partitions.create(part)
        _fill(url, part, rows)
    vacuum(url)
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(
            "DELETE FROM jobs_execution WHERE scheduled_for >= %s AND scheduled_for < %s",
            [deleted.start, deleted.end],
        )
        # The rows are gone only once vacuum has reclaimed them, index entries included.
        conn.execute(f"VACUUM {deleted.name}")
        delete_seconds = time.perf_counter() - started
    with _reading(url) as waits:
        started = time.perf_counter()
        result = partitions.drop_expired(executions_before=dropped.end, audit_before=None)
        drop_seconds = time.perf_counter() - started
    assert result["partitions_dropped"] == [dropped.name], result
    return Figure(
        "history",
        f"drop a month of {rows:,} finished executions",
        round(drop_seconds, 3),
        "s",
        baseline=round(delete_seconds, 3),
        baseline_name="one DELETE of as many rows of another month, and its VACUUM",
        notes={"longest_read_during_drop_ms": round(max(waits) * 1000, 2)},
    )


@contextlib.contextmanager
def _reading(url: str):
    """Read the queue's tables (jobs, queued executions) over and over meanwhile; yield the
    list each read's seconds go to: the longest is how long the drop held the queue up."""
    waits: list[float] = []
    done = threading.Event()

    def read():
        with psycopg.connect(url, autocommit=True) as conn:
            while not done.is_set():
                started = time.perf_counter()
                conn.execute(
                    "SELECT (SELECT 1 FROM jobs_job LIMIT 1), "
                    "(SELECT 1 FROM jobs_execution WHERE state = 'queued' LIMIT 1)"
                )
                waits.append(time.perf_counter() - started)

    reader = threading.Thread(target=read)
    reader.start()
    while not waits:
        time.sleep(0.01)
    try:
        yield waits
    finally:
        done.set()
        reader.join()


def _fill(url: str, part, rows: int) -> None:
    """`rows` succeeded executions of one job, their occurrences spread over `part`'s month."""
    with psycopg.connect(url) as conn:
        (job,) = conn.execute(
            f"""
            INSERT INTO jobs_job ({JOB_COLUMNS})
            SELECT gen_random_uuid(), 'bench month', 'noop', '{{}}', 'once', now(), '', 'UTC',
                   'default', 0, 3, 10, 'run_once', 'active', NULL, now(), now(),
                   {NO_NOTIFICATIONS}
            RETURNING id
            """
        ).fetchone()
        conn.execute(
            """
            INSERT INTO jobs_execution (job_id, scheduled_for, attempt, state, queue, priority,
                run_after, cancel_requested, error, traceback, created_at, started_at,
                finished_at)
            SELECT %(job)s, at, 1, 'succeeded', 'default', 0, at, false, '', '', at, at, at
            FROM (SELECT %(start)s::timestamptz + g * (interval '2400000 seconds' / %(rows)s)
                  AS at FROM generate_series(1, %(rows)s) AS g) AS occurrence
            """,
            {"job": job, "start": part.start, "rows": rows},
        )


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    history = 1_000 if smoke else scaled(HISTORY)
    jobs = 20 if smoke else LATENCY_JOBS
    hold = 2.0 if smoke else HOLD_SECONDS * SCALE
    empty_claims, empty_latency = claims_and_latency(url, 0, jobs)
    full_claims, full_latency = claims_and_latency(url, history, jobs)
    free = churn(url, hold, held=False)
    held = churn(url, hold, held=True)
    beside = f"{history:,} finished"
    figures = [
        _against_empty(f"claim {BATCH} of {QUEUED:,} queued, {beside}", full_claims, empty_claims),
        _against_empty(f"enqueue to start beside {beside}", full_latency, empty_latency),
    ]
    figures.append(drop_a_month(url, history))
    for p in ("p50", "p99"):
        figures.append(
            Figure(
                "history",
                f"record+claim {BATCH} after {hold:g} s held open, {p}",
                round(held[p], 3),
                "ms",
                baseline=round(free[p], 3),
                baseline_name="the same churn with no transaction held open",
                notes={"rounds": held["rounds"], "rounds_free": free["rounds"]},
            )
        )
    return figures


def _against_empty(name: str, full: dict, empty: dict) -> Figure:
    """A p50 beside a large history, against the same with none; the p99s in its notes."""
    return Figure(
        "history",
        f"{name}, p50",
        round(full["p50"], 3),
        "ms",
        baseline=round(empty["p50"], 3),
        baseline_name="the same with no history",
        notes={"p99_ms": round(full["p99"], 3), "empty_p99_ms": round(empty["p99"], 3)},
    )
