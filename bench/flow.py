"""Flow control: what the limits cost the claim.

- The claim of a queue without limits, as a worker sends it now (claim_guard and
  claim_plain, pipelined in one implicit transaction), beside the single claim statement
  the engine sent before queues had limits (kept here, whole, as the baseline), on the same
  rows and on the index it was written for (made for its run, then dropped: today's claim
  index leaves keyed rows out, so the old statement cannot use it).
- The claim of key-less work with 100,000 executions queued behind 20 full keys, beside the
  same 20 full keys with one waiting each: rows behind a full key are in an index of their
  own and never read, and each key costs a few probes, so the figure should stay flat
  however many wait. EXPLAIN ANALYZE of the claim is printed.
"""

import time

import psycopg

from .common import Figure, scaled, summary, use_database
from .seed import due_noop_jobs, reset

CLAIMS = 60  # timed claims per case; each one's rows are put back, untimed
BATCH = 10
KEYS = 20  # full keys the blocked executions wait behind

# The claim as it was before flow control (one statement, no limits), the baseline, and
# the index it was written for.
PRE_LIMITS_INDEX = """
CREATE INDEX bench_pre_limits_claim_idx ON jobs_execution (queue, priority DESC, run_after, id)
WHERE state = 'queued'
"""
UNLIMITED_CLAIM = """
WITH picked AS (
    SELECT due.id FROM unnest(%(queues)s::text[]) AS queue(name)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_after FROM jobs_execution
        WHERE state = 'queued' AND queue = queue.name AND run_after <= %(now)s
        ORDER BY priority DESC, run_after, id
        LIMIT 10
        FOR UPDATE SKIP LOCKED
    ) AS due
    ORDER BY due.priority DESC, due.run_after, due.id
    LIMIT 10
), claimed AS (
    UPDATE jobs_execution AS execution
    SET state = 'running', worker_id = %(worker)s, started_at = %(now)s
    FROM picked WHERE execution.id = picked.id
    RETURNING execution.*
)
SELECT claimed.*, job.name, job.handler, job.payload
FROM claimed JOIN jobs_job AS job ON job.id = claimed.job_id
"""


def fill_keys(url: str, n: int, worker_id: int, *, running: bool) -> None:
    """Queue `n` keyed executions over KEYS keys of limit 1; with `running`, first mark one
    of each key running (the key is then full)."""
    due_noop_jobs(url, n)
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            WITH newest AS (
                SELECT id FROM jobs_execution
                WHERE state = 'queued' AND concurrency_key IS NULL
                ORDER BY id DESC LIMIT %s
            ), keyed AS (
                SELECT id, row_number() OVER (ORDER BY id) AS n FROM newest
            )
            UPDATE jobs_execution AS e
            SET concurrency_key = 'customer:' || (keyed.n %% %s), concurrency_limit = 1,
                state = CASE WHEN %s AND keyed.n <= %s THEN 'running' ELSE 'queued' END,
                started_at = CASE WHEN %s AND keyed.n <= %s THEN now() END,
                worker_id = CASE WHEN %s AND keyed.n <= %s THEN %s END
            FROM keyed WHERE e.id = keyed.id
            """,
            [n, KEYS, running, KEYS, running, KEYS, running, KEYS, worker_id],
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs_execution")


def time_claims(*, baseline: bool = False) -> list[float]:
    """Time CLAIMS claims as a worker sends them (committed, so the statements stay
    prepared, as on a worker's connection); each claim's rows are put back afterwards,
    untimed, so the queue keeps its size."""
    from django.utils import timezone

    from jobs import engine
    from jobs.models import Worker

    worker = Worker.objects.get(name="bench")
    timings = []
    plain = False  # as a worker does: what its previous claim found picks the statement
    with engine.connect() as db:
        for _ in range(CLAIMS):
            started = time.perf_counter()
            if baseline:
                params = {"worker": worker.pk, "queues": ["default"], "now": timezone.now()}
                claimed = [row[0] for row in db.execute(UNLIMITED_CLAIM, params).fetchall()]
            else:
                claim = engine.claim_due(
                    db, worker_id=worker.pk, queues=["default"], limit=BATCH, plain=plain
                )
                claimed, plain = [row.id for row in claim.executions], claim.plain
            timings.append((time.perf_counter() - started) * 1000)
            assert len(claimed) == BATCH, len(claimed)
            db.execute(
                "UPDATE jobs_execution SET state = 'queued', worker_id = NULL, started_at = NULL"
                " WHERE id = ANY(%s)",
                [claimed],
            )
    return timings


def explain_claim() -> str:
    from django.utils import timezone

    from jobs import engine
    from jobs.engine import queries
    from jobs.models import Worker

    worker = Worker.objects.get(name="bench")
    params = {
        "worker": worker.pk,
        "queues": ["default"],
        "handlers": engine.handler_names(),
        "limit": BATCH,
        "free": BATCH,
        "now": timezone.now(),
    }
    with engine.connect() as db, db.transaction(force_rollback=True):
        guard = queries.QUERIES["claim_guard"]
        guard_params = {
            "queues": ["default"],
            "now": params["now"],
            "rate_wait_ms": engine.RATE_WAIT_MS,
        }
        db.execute(guard.text(guard_params), guard_params)
        claim = queries.QUERIES["claim"]
        text = claim.text(dict(params))
        rows = db.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {text}", params).fetchall()
    return "\n".join(row[0] for row in rows)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    queued = 1_000 if smoke else scaled(10_000)
    blocked = 2_000 if smoke else scaled(100_000)
    reset(url)
    use_database(url)
    from jobs.models import Worker

    Worker.objects.create(name="bench", hostname="bench", pid=0, queues=["default"])
    due_noop_jobs(url, queued)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE jobs_execution")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PRE_LIMITS_INDEX)
        conn.execute("ANALYZE jobs_execution")
        before = summary(time_claims(baseline=True))
        conn.execute("DROP INDEX bench_pre_limits_claim_idx")
    now = summary(time_claims())
    bench_worker = Worker.objects.get(name="bench").pk
    fill_keys(url, 2 * KEYS, bench_worker, running=True)  # each key full, one waiting
    few = summary(time_claims())
    fill_keys(url, blocked, bench_worker, running=False)
    behind = summary(time_claims())
    plan = explain_claim()
    print(f"\nflow: EXPLAIN ANALYZE of the claim with {blocked:,} behind full keys:\n{plan}\n")
    return [
        Figure(
            "flow",
            f"claim {BATCH} of an unlimited queue, p50",
            round(now["p50"], 3),
            "ms",
            baseline=round(before["p50"], 3),
            baseline_name="the claim statement and index before limits",
            notes={"p99_ms": round(now["p99"], 3), "workload": f"{queued:,} queued"},
        ),
        Figure(
            "flow",
            f"claim {BATCH}, {blocked:,} behind full keys, p50",
            round(behind["p50"], 3),
            "ms",
            baseline=round(few["p50"], 3),
            baseline_name=f"the same {KEYS} full keys with {KEYS} behind them",
            notes={"p99_ms": round(behind["p99"], 3), "plan": plan},
        ),
    ]
