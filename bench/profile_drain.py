"""Profile a drain: where each worker's threads spend their time (py-spy, wall clock).

    python -m bench.profile_drain [--jobs 20000] [--workers 2] [--concurrency N] [--top 15]

Seeds due no-op jobs in a database of its own (BENCH_DATABASE, else bench_<random>, on the
server at DATABASE_URL), runs `runworker --burst` under `py-spy record --idle` (from PATH or
.bench-venvs/tools: `python -m venv .bench-venvs/tools && .bench-venvs/tools/bin/pip install
py-spy`), and prints for the main thread and the slot threads the share of samples inside
each of our functions (inclusive) and the busiest leaf frames, with waits (idle samples)
included: a worker that waits on the database shows it there.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .__main__ import migrate
from .common import ROOT, BenchDatabase, env_for
from .seed import drain_seconds, due_noop_jobs

OURS = ("jobs/", "handlers/")  # frames of the project's own code


def py_spy() -> str:
    found = shutil.which("py-spy") or str(ROOT / ".bench-venvs" / "tools" / "bin" / "py-spy")
    if not Path(found).exists():
        sys.exit("profile_drain: py-spy not found (see this module's docstring)")
    return found


def thread_kind(thread: str, frames: list[str]) -> str:
    """main (its loop only: start-up is left out), slot, listener or other."""
    name = thread.rpartition(": ")[2]  # "thread (<id>): <name>"
    text = ";".join(frames)
    if name == "MainThread":
        return "main" if "WorkerProcess._loop" in text else "other"
    if name.startswith("slot-"):
        return "slot"
    return "listener" if "listener.py" in text else "other"


def summarise(raw: Path, top: int) -> str:
    """Inclusive shares of our functions and leaf shares, per kind of thread."""
    inclusive: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    leaves: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    totals: collections.Counter = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread, *frames = stack.split(";")
        if not frames:
            continue
        kind, n = thread_kind(thread, frames), int(count)
        totals[kind] += n
        leaves[kind][frames[-1]] += n
        for frame in dict.fromkeys(f for f in frames if any(o in f for o in OURS)):
            inclusive[kind][frame] += n
    out = []
    for kind in ("main", "slot", "listener"):
        if not totals[kind]:
            continue
        out.append(f"\n{kind} thread(s): {totals[kind]} samples")
        out.append("  inclusive, our functions:")
        for frame, n in inclusive[kind].most_common(top):
            out.append(f"    {100 * n / totals[kind]:5.1f} %  {frame}")
        out.append("  leaves:")
        for frame, n in leaves[kind].most_common(top):
            out.append(f"    {100 * n / totals[kind]:5.1f} %  {frame}")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_drain", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    server = os.environ.get("DATABASE_URL")
    if not server:
        sys.exit("profile_drain: set DATABASE_URL")
    spy = py_spy()
    options = [] if args.concurrency is None else ["--concurrency", str(args.concurrency)]
    with (
        BenchDatabase(server, os.environ.get("BENCH_DATABASE")) as db,
        tempfile.TemporaryDirectory() as tmp,
    ):
        migrate(db.url)
        due_noop_jobs(db.url, args.jobs)
        outputs = [Path(tmp) / f"worker{i}.txt" for i in range(args.workers)]
        spies = [
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--idle",
                    "--threads",
                    "--nonblocking",
                    "--nolineno",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "--",
                    sys.executable,
                    "manage.py",
                    "runworker",
                    "--burst",
                    *options,
                ],
                cwd=ROOT,
                env=env_for(db.url),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for out in outputs
        ]
        for process in spies:
            _, err = process.communicate()
            if process.returncode != 0:
                sys.exit(f"profile_drain: a worker under py-spy failed: {err[-2000:]}")
        rate = args.jobs / drain_seconds(db.url)
        print(
            f"drain: {args.jobs} jobs, {args.workers} workers,"
            f" {' '.join(options) or 'default options'}: {rate:,.0f} jobs/s (under py-spy)"
        )
        merged = Path(tmp) / "all.txt"
        merged.write_text("".join(out.read_text() for out in outputs if out.exists()))
        print(summarise(merged, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
