"""Scale: claim time with 10k, 100k and 1M queued executions (beside 1M finished ones)."""

import time

import psycopg

from .common import Figure, scaled, summary, use_database
from .seed import due_noop_jobs, reset

CLAIMS = 50  # timed claims per size, each rolled back so the queue keeps its size
BATCH = 10


def seed_finished(url: str, n: int) -> None:
    """Add `n` succeeded executions (old occurrences of new jobs)."""
    due_noop_jobs(url, n, state="succeeded", run_after="now() - interval '1 day'")


def time_claims() -> tuple[list[float], str]:
    from django.db import connection, transaction

    from jobs import engine
    from jobs.models import Worker

    worker = Worker.objects.create(name="bench", hostname="bench", pid=0, queues=["default"])
    timings = []
    for _ in range(CLAIMS):
        with transaction.atomic():
            started = time.perf_counter()
            claimed = engine.executions_claim(worker=worker, queues=["default"], limit=BATCH)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(claimed) == BATCH
            transaction.set_rollback(True)
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT id FROM jobs_execution WHERE state = 'queued' AND queue = 'default'"
            " AND run_after <= now() ORDER BY priority DESC, run_after, id LIMIT 10"
            " FOR UPDATE SKIP LOCKED"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    return timings, plan


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    sizes = [100, 1_000] if smoke else [scaled(10_000), scaled(100_000), scaled(1_000_000)]
    reset(url)
    seed_finished(url, sizes[-1])
    use_database(url)
    results, plans, queued = {}, {}, 0
    for size in sizes:
        due_noop_jobs(url, size - queued)
        queued = size
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE jobs_execution")
        timings, plans[size] = time_claims()
        results[size] = summary(timings)
    base = results[sizes[0]]["p50"]
    figures = []
    for size in sizes:
        figures.append(
            Figure(
                "scale",
                f"claim {BATCH}, {size:,} queued, p50",
                round(results[size]["p50"], 3),
                "ms",
                baseline=round(base, 3),
                baseline_name=f"claim at {sizes[0]:,} queued",
                notes={
                    "workload": f"{size:,} queued + {sizes[-1]:,} finished executions",
                    "p99_ms": round(results[size]["p99"], 3),
                    "plan": plans[size],
                },
            )
        )
    return figures
