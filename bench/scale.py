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
    from jobs import engine
    from jobs.engine import queries
    from jobs.models import Worker

    worker = Worker.objects.create(name="bench", hostname="bench", pid=0, queues=["default"])
    timings = []
    with engine.connect() as db:
        for _ in range(CLAIMS):
            # Rolled back, so the queue keeps its size; the claim runs as a worker runs it.
            with db.transaction(force_rollback=True):
                started = time.perf_counter()
                claimed = engine.executions_claim(
                    db, worker_id=worker.pk, queues=["default"], limit=BATCH
                )
                timings.append((time.perf_counter() - started) * 1000)
                assert len(claimed) == BATCH
        claim = queries.QUERIES["claim"]
        params = {
            "worker": worker.pk,
            "queues": ["default"],
            "handlers": engine.handler_names(),
            "limit": BATCH,
            "free": BATCH,
            "now": None,
        }
        rows = db.execute(f"EXPLAIN {claim.text(params)}", params).fetchall()
    return timings, "\n".join(row[0] for row in rows)


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
