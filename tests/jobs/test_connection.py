"""The worker's own connections: what they are opened with, and a statement that outlives
WORKER_STATEMENT_TIMEOUT_SECONDS cancelled and retried."""

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from jobs import engine, services
from jobs.engine import pooler
from jobs.models import Execution
from jobs.services.queues import queue_update
from jobs.states import ExecutionState
from tests.conftest import database_url, wait_for


@pytest.mark.django_db
def test_a_direct_connection_is_not_pooled_and_its_statements_are_timed(settings):
    assert pooler.transaction_pooled() is False
    with engine.connect() as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "30s"
        assert conn.prepare_threshold == 5
    settings.WORKER_STATEMENT_TIMEOUT_SECONDS = 0.2
    with engine.connect() as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(1)")


@pytest.mark.django_db
@pytest.mark.parametrize("timeout", [30, 0])
def test_a_worker_connection_never_compiles_its_statements(settings, timeout):
    # A claim the planner costs past jit_above_cost (one of 10 beside 300,000 queued was)
    # spent 170 ms compiling; with the threshold at 0 every plan would be compiled.
    settings.WORKER_STATEMENT_TIMEOUT_SECONDS = timeout
    with engine.connect() as conn:
        assert conn.execute("SHOW jit").fetchone()[0] == "off"
        conn.execute("SET jit_above_cost = 0")
        plan = conn.execute("EXPLAIN SELECT count(*) FROM jobs_execution").fetchall()
        assert not any("JIT" in row[0] for row in plan)
    with psycopg.connect(database_url()) as other:  # a connection of anyone else's is left be
        other.execute("SET jit_above_cost = 0")
        plan = other.execute("EXPLAIN SELECT count(*) FROM jobs_execution").fetchall()
        jit_available = other.execute("SELECT pg_jit_available()").fetchone()[0]
        assert any("JIT" in row[0] for row in plan) == jit_available


@pytest.mark.django_db(transaction=True)  # Django's connection is closed and reopened
def test_told_it_is_pooled_nothing_is_prepared_and_the_shared_session_is_left_alone(settings):
    settings.DATABASE_POOL_MODE = "transaction"
    assert pooler.transaction_pooled() is True
    with engine.connect() as conn:
        assert conn.prepare_threshold is None
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"
    # Django's own connections as well, from their next connect on.
    connection.close()
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is None
    settings.DATABASE_POOL_MODE = "session"
    connection.close()
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == 5


@pytest.mark.django_db(transaction=True)
def test_a_claim_held_past_the_statement_timeout_is_cancelled_and_retried(start_worker):
    job = services.job_create(
        owner=None,
        name="behind a lock",
        handler="probe",
        payload={"mode": "succeed"},
        schedule_type="once",
        run_at=timezone.now(),
        queue="held",
    )
    queue_update(name="held", concurrency_limit=1)
    # The claim of a limited queue takes this lock: held here, the claim waits on it.
    with psycopg.connect(database_url(), autocommit=False) as holder:
        holder.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('jobs_queue claim ' || 'held', 0))"
        )
        worker = start_worker("--queues", "held", env={"WORKER_STATEMENT_TIMEOUT_SECONDS": "1"})
        wait_for(
            lambda: "canceling statement due to statement timeout" in worker.output(),
            timeout=20,
            message="the claim to be cancelled at its timeout",
        )
        holder.rollback()  # the lock goes
    wait_for(
        lambda: Execution.objects.filter(job=job, state=ExecutionState.SUCCEEDED).exists(),
        message="the job to run once the lock is gone",
    )
    assert worker.proc.poll() is None
    assert "Database unavailable, retrying" in worker.output()
