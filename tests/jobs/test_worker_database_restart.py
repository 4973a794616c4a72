"""Workers survive PostgreSQL going away: a throwaway server, restarted under them."""

import os
import subprocess
import sys
import time

import psycopg
import pytest

from tests.conftest import ROOT, wait_for
from tests.pgserver import ThrowawayPostgres, find_bindir

pytestmark = pytest.mark.slow

JOBS = 300
CREATE_JOBS = f"""
from django.utils import timezone
from jobs import services
for i in range({JOBS}):
    services.job_create(
        name=f"restart {{i}}", handler="probe", payload={{"mode": "sleep", "seconds": 0.01}},
        schedule_type="once", run_at=timezone.now(), retry_backoff_seconds=0, max_retries=10,
    )
"""


def manage(url: str, *args: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def count(url: str, sql: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return conn.execute(sql).fetchone()[0]
    except psycopg.OperationalError:
        return -1


@pytest.mark.skipif(find_bindir() is None, reason="needs PostgreSQL server binaries (initdb)")
def test_workers_recover_from_a_restart_and_run_every_job_exactly_once(start_worker):
    with ThrowawayPostgres() as server:
        manage(server.url, "migrate", "--noinput", "--run-syncdb")
        manage(server.url, "shell", "-c", CREATE_JOBS)
        # A long lease: this test is about reconnecting, not about rescue.
        env = {"WORKER_LEASE_SECONDS": "60"}
        workers = [start_worker("--concurrency", "2", url=server.url, env=env) for _ in range(2)]
        succeeded = "SELECT count(*) FROM jobs_execution WHERE state = 'succeeded'"
        wait_for(lambda: count(server.url, succeeded) >= JOBS // 4, timeout=60, message="progress")

        server.stop(mode="fast")
        time.sleep(2)
        server.start()

        wait_for(lambda: count(server.url, succeeded) == JOBS, timeout=120, message="all jobs")
        for worker in workers:
            assert worker.proc.poll() is None, "a worker died with the database"
            assert "Database unavailable" in worker.output()
        with psycopg.connect(server.url) as conn:
            per_job = conn.execute(
                "SELECT j.id, count(e.id) FILTER (WHERE e.state = 'succeeded'),"
                " (SELECT count(*) FROM runlog_runlog r WHERE r.job_id = j.id"
                "  AND r.finished_at IS NOT NULL)"
                " FROM jobs_job j LEFT JOIN jobs_execution e ON e.job_id = j.id GROUP BY j.id"
            ).fetchall()
            running = conn.execute(
                "SELECT count(*) FROM jobs_execution WHERE state IN ('running', 'queued')"
            ).fetchone()[0]
        assert len(per_job) == JOBS
        assert {(ok, finished) for _, ok, finished in per_job} == {(1, 1)}
        assert running == 0
