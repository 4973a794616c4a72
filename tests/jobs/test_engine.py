"""The engine's SQL: claim order and locking, materialisation, outcomes, rescue."""

import logging
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from jobs import engine, services, signals
from jobs.models import Execution, Job, Queue, Worker
from jobs.states import ErrorCode, ExecutionState, JobState
from tests.conftest import database_url

# The engine commits on its own connection: the tests' rows must be committed too.
pytestmark = pytest.mark.django_db(transaction=True)


def trigger(name="j", **fields):
    job = services.job_create(
        name=name,
        handler="noop",
        schedule_type="cron",
        cron="0 0 1 1 *",
        **fields,
    )
    return services.job_trigger(job=job)


def test_claim_takes_highest_priority_then_oldest_first(db, worker):
    low = trigger("low", priority=0)
    high_new = trigger("high new", priority=5)
    high_old = trigger("high old", priority=5)
    Execution.objects.filter(pk=high_old.pk).update(run_after=timezone.now() - timedelta(minutes=1))
    claimed = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=3)
    assert [e.pk for e in claimed] == [high_old.pk, high_new.pk, low.pk]
    assert all(e.state == ExecutionState.RUNNING and e.worker_id == worker.pk for e in claimed)


def test_claim_takes_only_due_executions_of_the_workers_queues(db, worker):
    other_queue = trigger("mail", queue="mail")
    future = trigger("future")
    Execution.objects.filter(pk=future.pk).update(run_after=timezone.now() + timedelta(hours=1))
    due = trigger("due")
    claimed = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=10)
    assert [e.pk for e in claimed] == [due.pk]
    assert Execution.objects.get(pk=other_queue.pk).state == ExecutionState.QUEUED


def test_claim_is_its_guard_and_one_statement_that_also_reads_the_jobs(db, worker):
    for i in range(5):
        trigger(f"j{i}", payload={})
    claimed = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=5)
    assert sorted(e.job.name for e in claimed) == [f"j{i}" for i in range(5)]
    assert all(e.job.payload == {} and e.job.timezone == "UTC" for e in claimed)
    guard, claim, wait = db.statements
    assert "set_config('jobs.claim_guarded'" in guard and "UPDATE jobs_execution" in claim
    assert "next_start_at" in wait


def test_recording_a_batch_of_successes_is_one_statement(db, worker):
    job = services.job_create(
        name="once", handler="noop", schedule_type="once", run_at=timezone.now()
    )
    trigger("recurring")
    claimed = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=5)
    outcomes = [engine.Outcome(e, ExecutionState.SUCCEEDED, result={"n": e.pk}) for e in claimed]
    db.statements.clear()
    engine.outcomes_record(db, worker_id=worker.pk, outcomes=outcomes)
    assert len(db.statements) == 1
    assert {e.result["n"] for e in Execution.objects.all()} == {e.pk for e in claimed}
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED


def test_claim_skips_rows_locked_by_another_connection(db, worker):
    first, second = trigger("a"), trigger("b")
    with psycopg.connect(database_url()) as other:
        # Another worker's claim transaction holds `first` locked and is not committed yet.
        other.execute("BEGIN")
        other.execute("SELECT id FROM jobs_execution WHERE id = %s FOR UPDATE", [first.pk])
        claimed = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=2)
        assert [e.pk for e in claimed] == [second.pk]
        other.execute("ROLLBACK")
    assert Execution.objects.get(pk=first.pk).state == ExecutionState.QUEUED


def test_materialise_skips_jobs_locked_by_another_connection(db):
    past = timezone.now() - timedelta(seconds=1)
    locked = services.job_create(
        name="locked", handler="noop", schedule_type="interval", interval_seconds=60
    )
    free = services.job_create(
        name="free", handler="noop", schedule_type="interval", interval_seconds=60
    )
    Job.objects.update(next_run_at=past)
    with psycopg.connect(database_url()) as other:
        other.execute("BEGIN")
        other.execute("SELECT id FROM jobs_job WHERE id = %s FOR UPDATE", [locked.pk])
        assert engine.jobs_materialise(db) == 1
        other.execute("ROLLBACK")
    assert not locked.executions.exists()
    assert free.executions.count() == 1


def test_materialise_advances_next_run_and_never_duplicates_an_occurrence(db):
    job = services.job_create(
        name="i", handler="noop", schedule_type="interval", interval_seconds=60
    )
    due = timezone.now() - timedelta(seconds=1)
    Job.objects.filter(pk=job.pk).update(next_run_at=due)
    assert engine.jobs_materialise(db) == 1
    job.refresh_from_db()
    assert job.next_run_at == due + timedelta(seconds=60)
    # Someone puts next_run_at back (a stale copy, another host): the unique key holds.
    Job.objects.filter(pk=job.pk).update(next_run_at=due)
    engine.jobs_materialise(db)
    assert job.executions.count() == 1


def test_paused_jobs_are_not_materialised(db):
    job = services.job_create(
        name="p", handler="noop", schedule_type="interval", interval_seconds=60
    )
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now(), state=JobState.PAUSED)
    assert engine.jobs_materialise(db) == 0


def test_failure_queues_the_next_attempt_after_the_backoff(db, worker):
    execution = trigger("f", retry_backoff_seconds=10)
    [claimed] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    before = timezone.now()
    retry_id = engine.execution_fail(db, execution=claimed, worker_id=worker.pk, error="boom")
    retry = Execution.objects.get(pk=retry_id)
    execution.refresh_from_db()
    assert execution.state == ExecutionState.FAILED
    assert retry.attempt == 2
    assert timedelta(seconds=10) <= retry.run_after - before <= timedelta(seconds=12.6)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_backoff_is_exponential_capped_and_never_early(attempt):
    nominal = min(100, 2 * 2 ** (attempt - 1))
    delays = [engine.backoff_seconds(base=2, attempt=attempt, cap=100) for _ in range(50)]
    assert all(nominal <= d <= min(100, nominal * 1.25) for d in delays)
    assert len(set(delays)) > 1 or nominal == 100  # jittered unless pinned at the cap


def test_outcome_of_an_execution_no_longer_held_changes_nothing(db, worker):
    execution = trigger("late")
    [claimed] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    # The lease lapsed and another worker rescued it meanwhile.
    engine.execution_fail(db, execution=claimed, worker_id=None, error="Worker lost")
    engine.outcomes_record(
        db,
        worker_id=worker.pk,
        outcomes=[engine.Outcome(claimed, ExecutionState.SUCCEEDED, result={"late": True})],
    )
    execution.refresh_from_db()
    assert (execution.state, execution.result) == (ExecutionState.FAILED, None)


def test_rescue_takes_only_executions_of_stale_workers(db, worker):
    alive = Worker.objects.create(name="alive", hostname="h", pid=2, queues=["default"])
    mine = trigger("stale one")
    theirs = trigger("alive one")
    engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    engine.executions_claim(db, worker_id=alive.pk, queues=["default"], limit=1)
    Worker.objects.filter(pk=worker.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    assert engine.executions_rescue_stale(db) == 1
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.state == ExecutionState.FAILED and "Worker lost" in mine.error
    assert mine.error_code == ErrorCode.WORKER_LOST
    assert theirs.state == ExecutionState.RUNNING
    assert mine.job.executions.filter(attempt=2, state=ExecutionState.QUEUED).exists()


def test_release_puts_the_execution_back_as_the_same_attempt(db, worker):
    execution = trigger("r")
    engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    assert engine.executions_release(db, worker_id=worker.pk, ids=[execution.pk]) == 1
    execution.refresh_from_db()
    assert (execution.state, execution.attempt, execution.worker) == (
        ExecutionState.QUEUED,
        1,
        None,
    )


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("run_once", 1), ("skip", 0), ("run_all", 3)],
)
def test_misfire_policy_decides_what_runs_after_downtime(db, policy, expected):
    job = services.job_create(
        name=policy,
        handler="noop",
        schedule_type="interval",
        interval_seconds=600,
        misfire_policy=policy,
    )
    # Workers were down for 25 minutes: occurrences 25, 15 and 5 minutes ago were missed,
    # the latest one by more than MISFIRE_GRACE_SECONDS (60).
    missed_since = timezone.now() - timedelta(minutes=25)
    Job.objects.filter(pk=job.pk).update(next_run_at=missed_since)
    engine.jobs_materialise(db)
    assert job.executions.count() == expected
    job.refresh_from_db()
    assert job.next_run_at == missed_since + timedelta(minutes=30)
    if policy == "run_once":
        # The one run stands for the latest missed occurrence.
        assert job.executions.get().scheduled_for == missed_since + timedelta(minutes=20)


# --- Cancelled and paused jobs ----------------------------------------------------------


def test_failure_of_a_cancelled_jobs_run_queues_no_retry(db, worker):
    execution = trigger("c")
    [claimed] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    services.job_cancel(job=Job.objects.get(pk=execution.job_id))
    assert engine.execution_fail(db, execution=claimed, worker_id=worker.pk, error="boom") is None
    execution.refresh_from_db()
    assert execution.state == ExecutionState.CANCELLED
    assert "boom" in execution.error
    assert not Execution.objects.filter(state=ExecutionState.QUEUED).exists()


def test_rescue_of_a_cancelled_jobs_run_queues_no_retry(db, worker):
    execution = trigger("c")
    engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    services.job_cancel(job=Job.objects.get(pk=execution.job_id))
    Worker.objects.filter(pk=worker.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert engine.executions_rescue_stale(db) == 1
    execution.refresh_from_db()
    assert execution.state == ExecutionState.CANCELLED
    assert not Execution.objects.filter(state=ExecutionState.QUEUED).exists()


def test_a_paused_jobs_failed_run_is_retried_as_usual(db, worker):
    # Pause stops the schedule, not work already begun (see JOB_ACTIONS["retry"]).
    execution = trigger("p")
    [claimed] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    services.job_pause(job=Job.objects.get(pk=execution.job_id))
    retry_id = engine.execution_fail(db, execution=claimed, worker_id=worker.pk, error="boom")
    retry = Execution.objects.get(pk=retry_id)
    assert (retry.attempt, retry.state) == (2, ExecutionState.QUEUED)


def test_release_of_a_run_asked_to_stop_cancels_it(db, worker):
    execution = trigger("r")
    engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    services.job_cancel(job=Job.objects.get(pk=execution.job_id))
    assert engine.executions_release(db, worker_id=worker.pk, ids=[execution.pk]) == 0
    execution.refresh_from_db()
    assert execution.state == ExecutionState.CANCELLED


# --- One-time jobs paused while their run is in flight ----------------------------------


def claimed_once_job(db, worker, **fields):
    job = services.job_create(
        name="once", handler="noop", schedule_type="once", run_at=timezone.now(), **fields
    )
    [claimed] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    return job, claimed


def record_success(db, worker, claimed) -> list[tuple[str, str]]:
    """Record `claimed` as succeeded; return the job state changes signalled after commit."""
    changes = []

    def receiver(sender, job, before, after, **kwargs):
        changes.append((before, after))

    signals.job_state_changed.connect(receiver)
    try:
        engine.outcomes_record(
            db, worker_id=worker.pk, outcomes=[engine.Outcome(claimed, ExecutionState.SUCCEEDED)]
        )
    finally:
        signals.job_state_changed.disconnect(receiver)
    return changes


def test_one_time_job_paused_while_its_run_is_in_flight_completes(db, worker):
    job, claimed = claimed_once_job(db, worker)
    services.job_pause(job=Job.objects.get(pk=job.pk))

    changes = record_success(db, worker, claimed)

    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    assert changes == [(JobState.PAUSED, JobState.COMPLETED)]


def test_one_time_job_paused_while_its_last_attempt_is_in_flight_fails(db, worker):
    job, claimed = claimed_once_job(db, worker, max_retries=0)
    services.job_pause(job=Job.objects.get(pk=job.pk))
    engine.execution_fail(db, execution=claimed, worker_id=worker.pk, error="boom")
    job.refresh_from_db()
    assert job.state == JobState.FAILED


def test_success_of_a_cancelled_one_time_job_sends_no_state_change(db, worker):
    job, claimed = claimed_once_job(db, worker)
    services.job_cancel(job=Job.objects.get(pk=job.pk))

    changes = record_success(db, worker, claimed)

    job.refresh_from_db()
    assert job.state == JobState.CANCELLED
    assert Execution.objects.get(job_id=claimed.job_id).state == ExecutionState.SUCCEEDED
    assert changes == []


# --- Clocks: leases are judged by the database's clock ----------------------------------


@pytest.fixture
def host_clock_an_hour_ahead(monkeypatch):
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=1))
    return real_now


def test_heartbeat_is_written_with_the_databases_clock(db, worker, host_clock_an_hour_ahead):
    engine.worker_heartbeat(db, worker_id=worker.pk)
    worker.refresh_from_db()
    assert worker.heartbeat_at < host_clock_an_hour_ahead() + timedelta(minutes=1)


def test_rescue_judges_staleness_by_the_databases_clock(db, worker, monkeypatch):
    trigger("fresh")
    engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    engine.worker_heartbeat(db, worker_id=worker.pk)
    # The rescuer's host clock runs an hour ahead: the heartbeat just written is still fresh.
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=1))
    assert engine.executions_rescue_stale(db) == 0
    assert Worker.objects.alive().filter(pk=worker.pk).exists()


# --- Structured log fields --------------------------------------------------------------


def assert_fields(record, execution, **more):
    expected = {
        "job_id": str(execution.job_id),
        "execution_id": execution.pk,
        "attempt": execution.attempt,
        **more,
    }
    assert {key: getattr(record, key, None) for key in expected} == expected


def test_engine_warnings_carry_the_execution_fields(db, worker, caplog):
    execution = trigger("late")
    [claimed] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    Worker.objects.filter(pk=worker.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with caplog.at_level(logging.WARNING, logger="jobs.engine"):
        engine.executions_rescue_stale(db)
        engine.outcomes_record(
            db, worker_id=worker.pk, outcomes=[engine.Outcome(claimed, "succeeded")]
        )
        engine.execution_fail(db, execution=claimed, worker_id=worker.pk, error="late")
    rescue, dropped_result, dropped_failure = caplog.records
    assert_fields(rescue, execution, worker_id=worker.pk)
    assert_fields(dropped_result, execution, worker_id=worker.pk)
    assert_fields(dropped_failure, execution, worker_id=worker.pk)


def test_materialising_a_batch_costs_the_same_two_statements_for_any_size(db):
    for i in range(30):
        services.job_create(name=f"c{i}", handler="noop", schedule_type="cron", cron="* * * * *")
    Job.objects.update(next_run_at=timezone.now() - timedelta(seconds=1))
    # The locked read of the due jobs; then the executions' INSERT, the jobs' UPDATE and
    # the NOTIFY as one statement.
    assert engine.jobs_materialise(db) == 30
    assert len(db.statements) == 2
    assert Execution.objects.filter(state=ExecutionState.QUEUED).count() == 30
    assert not Job.objects.filter(next_run_at__lte=timezone.now()).exists()


def test_a_claim_held_back_by_a_full_key_in_a_queue_without_a_row_claims_nothing(db, worker):
    # A job moved to a queue after its enqueue may leave that queue without a row; the
    # claim's bookkeeping of held-back keys must not then fail the whole claim.
    services.jobs_create_many(
        handler="noop", payloads=[{}, {}], concurrency_key="account:7", concurrency_limit=1
    )
    [first] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=2)
    Queue.objects.filter(name="default").delete()
    assert engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=2) == []
    assert Execution.objects.get(pk=first.id).state == ExecutionState.RUNNING
