"""The scheduler's tables on a database of their own (SCHEDULER_DATABASE_URL), the
application's on DATABASE_URL: jobs enqueue and run, and each table is where it belongs."""

import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.conftest import ROOT, wait_for

pytestmark = pytest.mark.slow

JOBS = 20
ENQUEUE = f"""
from django.db import transaction
from jobs import enqueue
with transaction.atomic():  # the application's transaction, on its own database
    for number in range({JOBS}):
        enqueue("probe", {{"mode": "succeed", "value": number}})
"""
# The trade-off the README states, and the services (each in its transaction, its locks and
# its on_commit hooks on the scheduler's database) through the router.
SERVICES = """
from datetime import timedelta
from django.db import transaction
from jobs import enqueue, services
from jobs.models import Execution, Job
from jobs.services.queues import queue_pause, queue_resume
try:
    with transaction.atomic():  # the application's transaction, rolled back
        later = enqueue("probe", {"mode": "succeed"}, run_at=timedelta(hours=1))
        raise RuntimeError("the application's writes fail")
except RuntimeError:
    pass
print("kept", Job.objects.filter(pk=later.pk).exists())
queue_pause(name="default")
queue_resume(name="default")
services.job_pause(job=later)
services.job_cancel(job=Job.objects.get(pk=later.pk))
print("cancelled", Job.objects.get(pk=later.pk).state)
done = Execution.objects.filter(state="succeeded").first()
done.state = "dead"
done.save(update_fields=["state"])
print("retried", services.execution_retry(execution=done).state)
"""
READY = """
from ops.health import readiness
print(readiness()[0])
"""


@pytest.fixture
def two_databases():
    """Two empty databases on the suite's server: (the application's, the scheduler's)."""
    server = os.environ["DATABASE_URL"]
    names = [f"scratch_{uuid.uuid4().hex[:16]}" for _ in range(2)]
    with psycopg.connect(server, autocommit=True) as conn:
        for name in names:
            conn.execute(f"CREATE DATABASE {name}")
    try:
        yield [urlunsplit(urlsplit(server)._replace(path=f"/{name}")) for name in names]
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            for name in names:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {name for (name,) in rows}


def test_jobs_run_from_a_scheduler_database_of_their_own(two_databases, start_worker):
    app, scheduler = two_databases
    env = {"DATABASE_URL": app, "SCHEDULER_DATABASE_URL": scheduler}
    manage(env, "migrate", "--database", "scheduler", "--noinput")
    manage(env, "migrate", "--noinput", "--run-syncdb")  # tests.runlog has no migrations
    manage(env, "shell", "-c", ENQUEUE)
    start_worker("--concurrency", "4", url=app, env={"SCHEDULER_DATABASE_URL": scheduler})

    with psycopg.connect(scheduler, autocommit=True) as conn:
        sql = "SELECT count(*) FROM jobs_execution WHERE state = 'succeeded'"
        wait_for(lambda: conn.execute(sql).fetchone()[0] == JOBS, message="every job to run")
        assert conn.execute("SELECT count(*) FROM jobs_job").fetchone()[0] == JOBS
    # The handlers' writes (the application's model) went to the application's database.
    with psycopg.connect(app) as conn:
        runs = conn.execute("SELECT count(*) FROM runlog_runlog WHERE finished_at IS NOT NULL")
        assert runs.fetchone()[0] == JOBS

    on_app, on_scheduler = tables(app), tables(scheduler)
    assert "runlog_runlog" in on_app and "runlog_runlog" not in on_scheduler
    scheduler_tables = {"jobs_job", "jobs_execution", "jobs_worker", "accounts_user"}
    assert scheduler_tables <= on_scheduler and not scheduler_tables & on_app
    # An enqueue commits on the scheduler's database whatever the application's transaction
    # does; the services run there.
    out = manage(env, "shell", "-c", SERVICES).split()
    assert out[-6:] == ["kept", "True", "cancelled", "cancelled", "retried", "queued"], out
    # Readiness asks each database for its own migrations.
    assert manage(env, "shell", "-c", READY).split()[-1] == "True"
