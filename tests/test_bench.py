"""Each benchmark in its smallest size, so the benchmarks cannot rot unnoticed."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["throughput", "enqueue", "latency", "scale", "cron", "web"])
def test_benchmark_runs_in_smoke_size_and_prints_its_figures(name):
    server = os.environ["DATABASE_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "bench", name, "--smoke"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": server},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stdout
    assert all(f'"benchmark": "{name}"' in line for line in lines)
    assert "ratio" in result.stdout
