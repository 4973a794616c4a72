"""Each benchmark in its smallest size, so the benchmarks cannot rot unnoticed."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def run_bench(name: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    return subprocess.run(
        [sys.executable, "-m", "bench", name, "--smoke"],
        cwd=ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "name",
    [
        "throughput",
        "enqueue",
        "latency",
        "scale",
        "cron",
        "web",
        "flow",
        "workflows",
        "memory",
        "run_log",
        "connections",
        "history",
    ],
)
def test_benchmark_runs_in_smoke_size_and_prints_its_figures(name):
    assert_figures(run_bench(name), name)


def assert_figures(result: subprocess.CompletedProcess, name: str) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout
    assert all(f'"benchmark": "{name}"' in line for line in lines)
    assert "ratio" in result.stdout


def test_peers_smoke_leaves_the_peers_out_and_prints_every_target():
    # CI stays fast: no virtualenv is made and no peer runs in --smoke.
    result = run_bench("peers")
    assert_figures(result, "peers")
    out = result.stdout
    assert "peers: pgqueuer not measured: left out" in out
    assert "peers: procrastinate not measured: left out" in out
    targets = out.split("targets (issue 22):\n", 1)[1].splitlines()
    # Drain twice, bulk, single, start p50/p99/max against the bound and the two peers.
    assert len(targets) == 13, out
    # The project's own targets still get their ratio; the peers' say why they have none.
    own = [t for t in targets if "raw single-row" in t or " ms = " in t]
    assert len(own) == 4 and all("(target " in t for t in own), targets
    peer_targets = [t for t in targets if t not in own]
    assert all("= n/a (" in t and "not measured" in t for t in peer_targets), peer_targets
    # The slowest starts, step by step.
    assert "slowest starts, ms by step" in out


def test_profile_summary_splits_threads_and_leaves_out_start_up(tmp_path):
    from bench.profile_drain import summarise

    raw = tmp_path / "raw.txt"
    loop = "main (manage.py);WorkerProcess._loop (jobs/worker/process.py)"
    raw.write_text(
        f"thread (1): MainThread;{loop};claim_due (jobs/engine/outcomes.py);"
        "Connection.wait (psycopg/connection.py) 30\n"
        f"thread (1): MainThread;{loop};outcomes_record (jobs/engine/outcomes.py) 10\n"
        "thread (1): MainThread;main (manage.py);setup (django/__init__.py) 500\n"
        "thread (2): slot-0;Slots._run (jobs/worker/slots.py);Condition.wait (threading.py) 7\n"
    )
    text = summarise(raw, 5)
    assert "main thread(s): 40 samples" in text  # start-up's 500 left out
    assert "75.0 %  claim_due (jobs/engine/outcomes.py)" in text
    assert "25.0 %  outcomes_record (jobs/engine/outcomes.py)" in text
    assert "slot thread(s): 7 samples" in text
    assert "100.0 %  Condition.wait (threading.py)" in text
