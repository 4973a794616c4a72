"""The project's start latency at a steady rate, with each start's steps timed from outside.

For every job: the enqueue call (client clock), its return after commit (client), the NOTIFY
reaching an outside listener (bench.notify_clock, a stand-in for the workers' own listener),
the claim (started_at, the database's clock_timestamp() on this host), the handler's call
(bench_since's own clock) and the outcome recorded (finished_at). The slowest 1 % are shown
step by step beside the medians, so a tail's cause shows as the step that grew.
"""

import json
import subprocess
import sys
import time

import psycopg

from .common import ROOT, percentile, start_worker, use_database, wait_for_worker
from .seed import reset

WORKERS = 2
STEPS = (
    ("enqueue", "call -> committed"),
    ("notify", "committed -> NOTIFY heard"),
    ("claim", "NOTIFY heard -> claimed"),
    ("slot", "claimed -> handler called"),
)


def measure(url: str, n: int, rate: float) -> tuple[list[float], list[dict]]:
    """Return each job's delay from the enqueue call to its handler (ms), and its steps."""
    reset(url)
    use_database(url)
    import jobs

    from . import handlers  # noqa: F401 - registers bench_since in this process too

    workers = [
        start_worker(url, SCHEDULER_HANDLER_MODULES="bench.handlers") for _ in range(WORKERS)
    ]
    ear = subprocess.Popen(
        [sys.executable, "-m", "bench.notify_clock", url, str(n)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_worker(url, WORKERS)
        ear.stdout.readline()  # "listening"
        sent = []
        for _ in range(n):
            called = time.time()
            job = jobs.enqueue("bench_since", {"t": called})
            sent.append((job.pk, called, time.time()))
            time.sleep(max(0.0, 1 / rate - (time.time() - called)))
        rows = wait_for_starts(url, n)
        heard, _ = ear.communicate(timeout=60)
        heard = json.loads(heard)
    finally:
        ear.kill()
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait()
    if len(heard) != n:
        heard = [None] * n  # a notification missed or extra: no NOTIFY step this run
    steps = []
    for (job_id, called, committed), at_notify in zip(sent, heard, strict=True):
        claimed, handler, finished = rows[job_id]
        steps.append(
            {
                "total": (handler - called) * 1000,
                "enqueue": (committed - called) * 1000,
                "notify": None if at_notify is None else (at_notify - committed) * 1000,
                "claim": (claimed - (at_notify or committed)) * 1000,
                "slot": (handler - claimed) * 1000,
                "record": (finished - handler) * 1000,
                "at": called,
            }
        )
    return [s["total"] for s in steps], steps


def wait_for_starts(url: str, n: int, timeout: float = 60) -> dict:
    """Wait until `n` executions succeeded; return job id -> (claimed, handler, finished)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            rows = conn.execute(
                "SELECT job_id, extract(epoch FROM started_at),"
                " (result->>'called_at')::float8, extract(epoch FROM finished_at)"
                " FROM jobs_execution WHERE state = 'succeeded'"
            ).fetchall()
            if len(rows) >= n:
                return {r[0]: (float(r[1]), r[2], float(r[3])) for r in rows}
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(rows)} of {n} jobs started")
            time.sleep(0.1)


def tail_report(steps: list[dict]) -> str:
    """The slowest 1 % (at least 5) step by step, under the median of each step."""
    slowest = sorted(steps, key=lambda s: s["total"], reverse=True)[: max(5, len(steps) // 100)]
    names = ["total"] + [name for name, _ in STEPS] + ["record"]
    first = min(s["at"] for s in steps)
    lines = [
        "slowest starts, ms by step: " + "; ".join(f"{n} = {d}" for n, d in STEPS),
        f"{'':>9}" + "".join(f"{name:>9}" for name in names) + "   at (s into the run)",
    ]

    def row(label: str, values: list) -> str:
        cells = "".join(f"{'-' if v is None else f'{v:.1f}':>9}" for v in values)
        return f"{label:>9}{cells}"

    medians = [
        percentile([s[name] for s in steps if s[name] is not None], 50) if steps else None
        for name in names
    ]
    lines.append(row("median", medians))
    for s in slowest:
        lines.append(row("", [s[name] for name in names]) + f"   {s['at'] - first:.1f}")
    return "\n".join(lines)
