"""A person's cancel that meets a worker's lock order head-on still goes through."""

import threading
import time

import psycopg
import pytest
from django.utils import timezone

from jobs import engine, services
from jobs.models import AuditEvent, Execution, Worker
from jobs.states import JobState
from tests.conftest import database_url

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until_someone_waits_on_a_lock(conn, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("nobody waited on a lock")


def test_a_cancel_chosen_as_a_deadlock_victim_is_run_again_and_succeeds(db):
    worker = Worker.objects.create(name="w", hostname="h", pid=1, queues=["default"])
    job = services.job_create(name="j", handler="noop", schedule_type="once", run_at=timezone.now())
    [execution] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    errors = []
    holding = threading.Event()

    def worker_like():
        # What recording a success does: the execution first, then its job.
        try:
            with (
                psycopg.connect(database_url()) as conn,
                psycopg.connect(database_url(), autocommit=True) as observer,
            ):
                conn.execute(
                    "SELECT 1 FROM jobs_execution WHERE id = %s FOR UPDATE", [execution.pk]
                )
                holding.set()
                wait_until_someone_waits_on_a_lock(observer)  # the cancel, on our execution
                # Wait past half of deadlock_timeout (1 s): the cancel's deadlock check comes
                # first, so the cancel is the one PostgreSQL aborts.
                time.sleep(0.5)
                conn.execute("SELECT 1 FROM jobs_job WHERE id = %s FOR NO KEY UPDATE", [job.pk])
                conn.commit()
        except Exception as exc:  # reported below, in the test
            errors.append(exc)

    thread = threading.Thread(target=worker_like)
    thread.start()
    assert holding.wait(10)
    services.job_cancel(job=job)  # locks the job, then waits on the execution: deadlock
    thread.join(20)

    assert errors == []  # the worker side won: the cancel was the victim, and was retried
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert Execution.objects.get(pk=execution.pk).cancel_requested is True
    [event] = AuditEvent.objects.filter(object_id=str(job.pk), action="cancel")
    assert event.changes == {"state": [JobState.ACTIVE, JobState.CANCELLED]}
