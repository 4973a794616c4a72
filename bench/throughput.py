"""Throughput: due no-op jobs drained by runworker processes vs the raw-SQL loop, and vs the
engine before flow control (checked out of the repository's history) in the same run."""

import subprocess
import sys

from . import before_engine
from .common import ROOT, BenchDatabase, Figure, env_for, scaled, start_worker, wait_all
from .seed import drain_seconds, due_noop_jobs, reset

WORKLOAD = "{n} due no-op one-time jobs, drained by {p} process(es) with batch/concurrency {c}"


def drain_with_workers(url: str, n: int, processes: int, concurrency: int, tree=None) -> float:
    """Drain `n` due jobs with `processes` workers of this engine (or of the one in `tree`)."""
    reset(url)
    due_noop_jobs(url, n)
    args = ("--burst", "--concurrency", str(concurrency))
    workers = [
        start_worker(url, *args) if tree is None else before_engine.start_worker(tree, url, *args)
        for _ in range(processes)
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


def against_raw(url: str, configs: list[tuple[int, int, int]]) -> list[Figure]:
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


BEFORE = f"the engine before flow control ({before_engine.BEFORE_FLOW_CONTROL[:7]})"


def against_before(url: str, concurrencies: list[int], count: int, rounds: int) -> list[Figure]:
    """2 workers of each engine on queues without limits, alternating `rounds` times (the
    machine's drift falls on both alike); the medians."""
    with before_engine.checkout() as tree:
        if tree is None:
            missing = {"missing": "the engine before flow control is not in this checkout"}
            return [
                Figure(
                    "throughput",
                    f"2 workers, concurrency {c}, no limits",
                    round(drain_with_workers(url, count, 2, c), 1),
                    "jobs/s",
                    baseline_name=BEFORE,
                    notes={**missing, "target": ">= 1.0", "issue": "18"},
                )
                for c in concurrencies
            ]
        with BenchDatabase(url) as before_db:
            before_engine.migrate(tree, before_db.url)
            return [
                before_figure(url, before_db.url, tree, c, count, rounds) for c in concurrencies
            ]


def before_figure(url: str, before_url: str, tree, concurrency: int, count: int, rounds: int):
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(drain_with_workers(url, count, 2, concurrency))
        theirs.append(drain_with_workers(before_url, count, 2, concurrency, tree=tree))
    return Figure(
        "throughput",
        f"2 workers, concurrency {concurrency}, no limits",
        round(sorted(ours)[rounds // 2], 1),
        "jobs/s",
        baseline=round(sorted(theirs)[rounds // 2], 1),
        baseline_name=BEFORE,
        notes={
            "workload": WORKLOAD.format(n=count, p=2, c=concurrency),
            "rounds": rounds,
            "ours": [round(x) for x in ours],
            "before": [round(x) for x in theirs],
            "commit": before_engine.BEFORE_FLOW_CONTROL,
            "target": ">= 1.0",
            "issue": "18",
        },
    )


def run(url: str, *, smoke: bool = False) -> list[Figure]:
    n = 200 if smoke else scaled(20_000)
    # The concurrency sweep drains a quarter as many: at concurrency 1 the full 20,000 alone
    # would take a minute of the ten `make bench` has.
    sweep = 50 if smoke else scaled(5_000)
    configs = [(1, 10, n), (2, 10, n)]
    if not smoke:
        configs += [(2, 1, sweep), (2, 4, sweep), (2, 32, sweep)]
    figures = against_raw(url, configs)
    if not smoke:
        figures += against_before(url, [1, 4], scaled(3_000), rounds=3)
    return figures
