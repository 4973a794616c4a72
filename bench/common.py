"""What every benchmark shares: a throwaway database, worker processes, figures, reports."""

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
# Workers and Django run as in production: DEBUG off (no per-query bookkeeping).
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
    "DEBUG": "0",
    "SECRET_KEY": "benchmark-only-not-a-secret-" + "x" * 40,
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "LOG_LEVEL": "WARNING",
    # The web benchmark sends hundreds of requests a minute as one user: throttled as in
    # production (the throttle's bookkeeping is part of each request), at a rate it never meets.
    "API_THROTTLE_USER": "100000/min",
}


def scaled(n: int) -> int:
    return max(1, int(n * SCALE))


@dataclass
class Figure:
    benchmark: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    notes: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline

    def line(self) -> str:
        data = asdict(self)
        data["ratio"] = None if self.ratio is None else round(self.ratio, 4)
        return json.dumps(data, default=str)


def percentile(values: list[float], p: float) -> float:
    """Return the p-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else float("nan"),
        "n": len(values),
    }


class BenchDatabase:
    """A database made for this run on the server at DATABASE_URL, dropped at the end."""

    def __init__(self, server_url: str, name: str | None = None):
        self.server_url = server_url
        self.name = name or f"bench_{uuid.uuid4().hex[:8]}"
        base, _, _ = server_url.rpartition("/")
        self.url = f"{base}/{self.name}"

    def __enter__(self):
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *exc):
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def env_for(url: str, **more: str) -> dict:
    return {**os.environ, **BENCH_ENV, "DATABASE_URL": url, **more}


def start_worker(url: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "runworker", *args],
        cwd=ROOT,
        env=env_for(url, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_all(processes: list[subprocess.Popen], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    for process in processes:
        _, err = process.communicate(timeout=max(1, deadline - time.monotonic()))
        if process.returncode != 0:
            raise RuntimeError(f"worker exited {process.returncode}: {err[-2000:]}")


def use_database(url: str) -> None:
    """Point this process's Django at `url` (set up Django on first use)."""
    import django
    from django.db import connections

    os.environ.update(BENCH_ENV)
    os.environ["DATABASE_URL"] = url
    from django.conf import settings

    if not settings.configured or not hasattr(settings, "_wrapped") or not django.apps.apps.ready:
        django.setup()
    connections["default"].close()
    connections["default"].settings_dict["NAME"] = url.rpartition("/")[2]


def wait_for_worker(url: str, count: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            alive = conn.execute(
                "SELECT count(*) FROM jobs_worker WHERE stopped_at IS NULL"
            ).fetchone()[0]
        if alive >= count:
            time.sleep(0.5)  # past start-up, into its idle wait
            return
        time.sleep(0.1)
    raise RuntimeError("worker did not start")
