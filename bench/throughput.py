"""Throughput: due no-op jobs drained by runworker processes vs the raw-SQL loop."""

import subprocess
import sys

from .common import ROOT, Figure, env_for, scaled, start_worker, wait_all
from .seed import drain_seconds, due_noop_jobs, reset

WORKLOAD = "{n} due no-op one-time jobs, drained by {p} process(es) with batch/concurrency {c}"


def drain_with_workers(url: str, n: int, processes: int, concurrency: int) -> float:
    reset(url)
    due_noop_jobs(url, n)
    workers = [
        start_worker(url, "--burst", "--concurrency", str(concurrency)) for _ in range(processes)
    ]
    wait_all(workers)
    return n / drain_seconds(url)


def drain_raw(url: str, n: int, processes: int, batch: int) -> float:
    reset(url)
    due_noop_jobs(url, n)
    loops = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.raw", url, str(batch)], cwd=ROOT, env=env_for(url)
        )
        for _ in range(processes)
    ]
    for loop in loops:
        loop.wait()
    return n / drain_seconds(url)


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    n = 200 if smoke else scaled(20_000)
    # The concurrency sweep drains a quarter as many: at concurrency 1 the full 20,000 alone
    # would take a minute of the ten `make bench` has.
    sweep = 50 if smoke else scaled(5_000)
    configs = [(1, 10, n), (2, 10, n)]
    if not smoke:
        configs += [(2, 1, sweep), (2, 4, sweep), (2, 32, sweep)]
    figures = []
    for processes, concurrency, count in configs:
        raw = drain_raw(url, count, processes, concurrency)
        ours = drain_with_workers(url, count, processes, concurrency)
        figures.append(
            Figure(
                "throughput",
                f"{processes} worker(s), concurrency {concurrency}",
                round(ours, 1),
                "jobs/s",
                baseline=round(raw, 1),
                baseline_name=f"raw SQL, {processes} loop(s), batch {concurrency}",
                notes={"workload": WORKLOAD.format(n=count, p=processes, c=concurrency)},
            )
        )
    return figures
