"""Run the benchmarks: `python -m bench [name ...]` (or `make bench`).

Each benchmark runs in a database made for it on the server at DATABASE_URL and dropped
afterwards, prints a table, and one JSON line per figure. BENCH_SCALE multiplies the sizes;
BENCH_DATABASE names the database (else bench_<random>); BENCH_PEERS=0 leaves the peers out.
"""

import argparse
import os
import platform
import sys
import time

from . import (
    connections,
    cron,
    enqueue,
    flow,
    history,
    latency,
    memory,
    peers_bench,
    run_log,
    scale,
    throughput,
    web,
    workflows,
)
from .common import SCALE, BenchDatabase, Figure

BENCHMARKS = {
    "throughput": throughput.run,
    "enqueue": enqueue.run,
    "latency": latency.run,
    "scale": scale.run,
    "flow": flow.run,
    "cron": cron.run,
    "web": web.run,
    "peers": peers_bench.run,
    "workflows": workflows.run,
    "memory": memory.run,
    "run_log": run_log.run,
    "connections": connections.run,
    "history": history.run,
}


def machine() -> str:
    cores = os.cpu_count()
    return f"{platform.machine()}, {cores} cores, Python {platform.python_version()}"


def print_table(figures: list[Figure]) -> None:
    header = f"{'benchmark':<12} {'figure':<44} {'value':>12} {'baseline':>12} {'ratio':>7}"
    print(header + "  baseline is")
    print("-" * (len(header) + 14))
    for f in figures:
        base = "" if f.baseline is None else f"{f.baseline:,.1f}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}"
        print(
            f"{f.benchmark:<12} {f.name:<44} {f.value:>9,.1f} {f.unit:<2} {base:>12} {ratio:>7}"
            f"  {f.baseline_name}"
        )


def print_targets(figures: list[Figure]) -> None:
    """Each figure that has a target: its ratio to the baseline the target names."""
    marked = [f for f in figures if f.notes.get("target")]
    for issue in sorted({f.notes.get("issue", "22") for f in marked}):
        print(f"\ntargets (issue {issue}):")
        print_issue_targets([f for f in marked if f.notes.get("issue", "22") == issue])


def print_issue_targets(marked: list[Figure]) -> None:
    for f in marked:
        head = f"  {f.name} / {f.baseline_name}"
        if f.ratio is None:
            print(f"{head} = n/a ({f.notes.get('missing', 'no baseline')})")
            continue
        op, bound = f.notes["target"].split()
        met = f.ratio >= float(bound) if op == ">=" else f.ratio <= float(bound)
        print(f"{head} = {f.ratio:.2f} (target {op} {bound}): {'met' if met else 'MISSED'}")


def cpu_times() -> list[int] | None:
    """The machine's CPU time counters (Linux /proc/stat), or None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            return [int(n) for n in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def steal_percent(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of CPU time the hypervisor gave to other guests between two readings.

    On a shared virtual machine this is the noise under every figure: latencies above all
    rise with it, so it is printed beside each benchmark.
    """
    if not before or not after or len(before) < 8:
        return None
    spent = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(spent[:8])  # user .. steal; guest time is already counted in user
    return round(100 * spent[7] / total, 1) if total else None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], default=[])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    args = parser.parse_args(argv)
    server = os.environ.get("DATABASE_URL")
    if not server:
        print("bench: set DATABASE_URL (or run `make bench`)", file=sys.stderr)
        return 2
    names = args.names or list(BENCHMARKS)
    print(f"machine: {machine()}; BENCH_SCALE={SCALE:g}", flush=True)
    figures: list[Figure] = []
    for name in names:
        with BenchDatabase(server, os.environ.get("BENCH_DATABASE")) as db:
            os.environ["DATABASE_URL"] = db.url
            migrate(db.url)
            before, started = cpu_times(), time.monotonic()
            results = BENCHMARKS[name](db.url, smoke=args.smoke)
            steal = steal_percent(before, cpu_times())
            elapsed = time.monotonic() - started
        os.environ["DATABASE_URL"] = server
        steal_text = "" if steal is None else f", CPU steal {steal:g} %"
        print(f"{name}: {elapsed:.0f} s{steal_text}", flush=True)
        for figure in results:
            figure.notes["cpu_steal_percent"] = steal
            print(figure.line(), flush=True)
        figures += results
    print()
    print_table(figures)
    print_targets(figures)
    return 0


def migrate(url: str) -> None:
    import subprocess

    from .common import ROOT, env_for

    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env_for(url),
        check=True,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
