"""Behind PgBouncer in transaction mode (Debian's package), with the pooler settings left at
their defaults: the web and the workers find the pooler themselves and send nothing through
it that it cannot carry (prepared statements, a LISTEN)."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests import pgbouncer
from tests.conftest import ROOT, wait_for
from tests.pgserver import ThrowawayPostgres, find_bindir, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_bindir() is None, reason="needs PostgreSQL server binaries (initdb)"),
    pytest.mark.skipif(
        not pgbouncer.available(), reason="needs PgBouncer (make test installs Debian's)"
    ),
]

JOBS = 2000
# The project's settings as a deployment has them, but for the test handlers (tests.settings)
# and no API throttle: 2,000 POSTs from one user in a minute are what this test sends.
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "WORKER_HEARTBEAT_SECONDS": "5",
    "WORKER_LEASE_SECONDS": "30",
    "WORKER_POLL_SECONDS": "1",
    "API_THROTTLE_USER": "none",
}
CREATE_JOBS = """
from jobs import enqueue_many
enqueue_many("probe", [{"mode": "succeed"}] * 2000)
"""
ONE_JOB = """
from jobs import enqueue
enqueue("probe", {"mode": "succeed"})
"""
ISSUE_TOKEN = """
from accounts.api import token_issue
from django.contrib.auth import get_user_model
user = get_user_model().objects.create_superuser("ops", password="pw-ops-123")
print(token_issue(user=user)[1])
"""


def manage(url: str, *args: str) -> str:
    env = {**os.environ, **ENV, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def post_job(base: str, token: str, number: int) -> int:
    body = {
        "name": f"pooled {number}",
        "handler": "probe",
        "payload": {"mode": "succeed"},
        "schedule_type": "once",
        "run_at": "2020-01-01T00:00:00Z",  # due at once
    }
    request = urllib.request.Request(
        f"{base}/api/v1/jobs",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def server():
    """A server of the test's own with an empty database `scheduler` on it."""
    with ThrowawayPostgres() as made:
        with psycopg.connect(made.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE scheduler")
        yield made


@pytest.fixture
def pooled_database(server):
    """PgBouncer in front of `server` in transaction mode, with its default pool; yields
    (the direct URL, the pooled URL)."""
    direct = server.url.rsplit("/", 1)[0] + "/scheduler"
    with pgbouncer.PgBouncer(server.port) as bouncer:
        yield direct, bouncer.url("scheduler")


@pytest.fixture
def web():
    started = []

    def start(url: str) -> str:
        port = free_port()
        env = {
            **os.environ,
            **ENV,
            "DATABASE_URL": url,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "WEB_CONCURRENCY": "2",
        }
        command = [sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py"]
        started.append(
            subprocess.Popen(
                [*command, "scheduler_project.wsgi:application"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: health(base) == 200, timeout=30, message="the web to answer")
        return base

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def health(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError):
        return 0


def test_web_and_three_workers_behind_pgbouncer_run_2000_api_jobs_exactly_once(
    pooled_database, web, start_worker
):
    direct, pooled = pooled_database
    manage(pooled, "migrate", "--noinput", "--run-syncdb")
    token = manage(pooled, "shell", "-c", ISSUE_TOKEN).split()[-1]  # after shell's banner
    base = web(pooled)
    workers = [start_worker("--concurrency", "4", url=pooled, env=ENV) for _ in range(3)]

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda n: post_job(base, token, n), range(JOBS)))
    assert statuses.count(201) == JOBS, sorted(set(statuses))

    with psycopg.connect(direct) as conn:

        def succeeded() -> int:
            sql = "SELECT count(*) FROM jobs_execution WHERE state = 'succeeded'"
            return conn.execute(sql).fetchone()[0]

        wait_for(lambda: succeeded() == JOBS, timeout=180, message="every job to succeed")
        elapsed = time.monotonic() - started
        per_job = conn.execute(
            "SELECT count(e.id) FILTER (WHERE e.state = 'succeeded' AND e.attempt = 1),"
            " count(e.id), (SELECT count(*) FROM runlog_runlog r WHERE r.job_id = j.id"
            "  AND r.finished_at IS NOT NULL)"
            " FROM jobs_job j JOIN jobs_execution e ON e.job_id = j.id"
            " WHERE j.name LIKE 'pooled %' GROUP BY j.id"
        ).fetchall()
    # Every job: one execution, one attempt, run to its end once.
    assert len(per_job) == JOBS
    assert set(per_job) == {(1, 1, 1)}
    for worker in workers:
        assert worker.proc.poll() is None, worker.output()
        log = worker.output()
        assert "Behind a transaction pooler: polling" in log
        assert " ERROR " not in log and "Traceback" not in log, log
    print(f"{JOBS} jobs through PgBouncer: posted and run in {elapsed:.1f} s")


def test_told_there_is_no_pooler_workers_meet_its_error_and_name_it(server, start_worker):
    """A pool with the detection overruled (DATABASE_POOL_MODE=session): each worker
    prepares its claim on the server it borrows, the second meets the first's, and stops
    naming the pooler. What the detection spares a deployment. One server connection for
    all clients makes the meeting certain; a larger pool makes it a matter of time."""
    with pgbouncer.PgBouncer(server.port, pool_size=1) as bouncer:
        pooled = bouncer.url("scheduler")
        manage(pooled, "migrate", "--noinput", "--run-syncdb")
        manage(pooled, "shell", "-c", CREATE_JOBS)
        env = {**ENV, "DATABASE_POOL_MODE": "session"}
        workers = [start_worker("--concurrency", "4", url=pooled, env=env) for _ in range(3)]
        wait_for(
            lambda: any(worker.proc.poll() is not None for worker in workers),
            timeout=60,
            message="a worker to stop",
        )
    stopped = next(worker for worker in workers if worker.proc.poll() is not None)
    assert stopped.proc.returncode != 0
    assert "pooler" in stopped.output() and "DATABASE_POOL_MODE=transaction" in stopped.output()


def test_a_worker_behind_the_pool_listens_on_database_listen_url(pooled_database, start_worker):
    """Polling only every 30 s, the worker still starts a new job at once: it heard the
    enqueue's NOTIFY on its direct connection."""
    direct, pooled = pooled_database
    manage(pooled, "migrate", "--noinput", "--run-syncdb")
    env = {**ENV, "WORKER_POLL_SECONDS": "30", "DATABASE_LISTEN_URL": direct}
    worker = start_worker("--concurrency", "1", url=pooled, env=env)
    wait_for(lambda: "Worker started" in worker.output(), message="the worker to start")
    time.sleep(1)  # past its first claims: idle, waiting on the listener or the poll
    manage(pooled, "shell", "-c", ONE_JOB)
    with psycopg.connect(direct, autocommit=True) as conn:
        sql = "SELECT count(*) FROM runlog_runlog WHERE finished_at IS NOT NULL"
        wait_for(lambda: conn.execute(sql).fetchone()[0] == 1, timeout=20, message="the run")
        waited = conn.execute(
            "SELECT extract(epoch FROM e.started_at - j.created_at)"
            " FROM jobs_execution e JOIN jobs_job j ON j.id = e.job_id"
        ).fetchone()[0]
    assert waited < 2  # the poll is 30 s away
    assert "polling" not in worker.output()


def test_through_a_session_pool_workers_keep_prepared_statements_and_listen(server, start_worker):
    """A pool in session mode is no transaction pooler: found so, the worker runs as on a
    direct connection (it listens, prepares, sets its statement timeout) and none of it is
    refused."""
    with pgbouncer.PgBouncer(server.port, pool_mode="session") as bouncer:
        pooled = bouncer.url("scheduler")
        manage(pooled, "migrate", "--noinput", "--run-syncdb")
        worker = start_worker("--concurrency", "2", url=pooled, env=ENV)
        manage(pooled, "shell", "-c", CREATE_JOBS)
        with psycopg.connect(server.url.rsplit("/", 1)[0] + "/scheduler") as conn:
            sql = "SELECT count(*) FROM jobs_execution WHERE state = 'succeeded'"
            wait_for(lambda: conn.execute(sql).fetchone()[0] == 2000, timeout=120, message="all")
            listening = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN jobs_scheduler'"
            ).fetchone()[0]
        assert listening == 1  # its LISTEN, on a server connection of its session
        output = worker.output()
        assert "transaction pooler" not in output and "Database unavailable" not in output
        assert worker.proc.poll() is None
