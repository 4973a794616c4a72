"""History: the engine beside a large finished history, and under a transaction held open.

- Claim time (10 at a time among 10,000 queued, rolled back) and enqueue-to-start latency
  with `HISTORY` finished executions (1M; BENCH_SCALE=10 for 10M) against an empty history.
- Claim time after `HOLD_SECONDS` of churn (enqueue 10, then record the last 10 and claim
  the next in one round trip, as a worker does) while another connection keeps a
  transaction open, against the same churn with none: the open snapshot keeps every row the
  churn leaves dead from vacuum, in the tables and indexes the claim reads.
"""

import time

import psycopg

from . import latency, scale
from .common import SCALE, Figure, scaled, summary, use_database
from .seed import due_noop_jobs, reset

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
