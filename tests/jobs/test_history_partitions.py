"""History in monthly partitions (jobs.partitions): made ahead, rows taken over from the
default partition, and retention that drops whole months, never one a row still needs."""

import logging
import time
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs import partitions
from jobs.models import AuditEvent, Execution
from jobs.services import job_create
from jobs.states import ExecutionState
from tests.conftest import database_url
from tests.history import audit_event, held_open, months_ago, run_of, where


@pytest.fixture
def job(user):
    return job_create(
        owner=user, name="history", handler="noop", schedule_type="interval", interval_seconds=60
    )


@pytest.fixture
def drop_made_months():
    """Drop, after a test that commits, the months it made (the next tests expect none)."""
    before = {m.name for table in partitions.TABLES for m in partitions.months(table)}
    yield
    made = {m.name for table in partitions.TABLES for m in partitions.months(table)} - before
    with connection.cursor() as cursor:
        for name in made:
            cursor.execute(f"DROP TABLE {name}")


@pytest.mark.django_db
def test_both_history_tables_are_partitioned_with_this_month_and_the_next():
    this_month = partitions.month_start(timezone.now())
    for table, key in partitions.TABLES.items():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_partkeydef(%s::regclass), "
                "(SELECT count(*) FROM pg_inherits WHERE inhrelid = %s::regclass)",
                [table, f"{table}_default"],
            )
            assert cursor.fetchone() == (f"RANGE ({key})", 1)
        starts = [m.start for m in partitions.months(table)]
        ahead = [this_month]
        for _ in range(partitions.MONTHS_AHEAD):
            ahead.append(partitions.next_month(ahead[-1]))
        assert starts[-len(ahead) :] == ahead
    assert partitions.ensure() == []  # idempotent


@pytest.mark.django_db
def test_an_execution_lives_in_the_month_of_its_occurrence_from_queued_to_finished(job, user):
    now = timezone.now()
    execution = run_of(job, ExecutionState.QUEUED, scheduled_for=now)
    month = partitions.month("jobs_execution", now).name
    assert where("jobs_execution", execution.pk) == month

    Execution.objects.filter(pk=execution.pk).update(
        state=ExecutionState.SUCCEEDED, started_at=now, finished_at=now
    )
    assert where("jobs_execution", execution.pk) == month
    event = AuditEvent.objects.filter(object_id=str(job.pk)).get()
    assert where("jobs_auditevent", event.pk) == partitions.month("jobs_auditevent", now).name


@pytest.mark.django_db
def test_a_month_made_later_takes_over_its_rows_from_the_default_partition(job):
    long_ago = months_ago(5) + timedelta(days=3)
    execution = run_of(job, ExecutionState.SUCCEEDED, scheduled_for=long_ago)
    event = audit_event(long_ago)
    assert where("jobs_execution", execution.pk) == "jobs_execution_default"
    assert where("jobs_auditevent", event.pk) == "jobs_auditevent_default"

    for table in partitions.TABLES:
        partitions.create(partitions.month(table, long_ago))

    assert (
        where("jobs_execution", execution.pk) == partitions.month("jobs_execution", long_ago).name
    )
    assert where("jobs_auditevent", event.pk) == partitions.month("jobs_auditevent", long_ago).name
    assert Execution.objects.get(pk=execution.pk).scheduled_for == long_ago
    # The default partition is back, with the append-only trigger it has from the parent.
    stray = audit_event(months_ago(9))
    assert where("jobs_auditevent", stray.pk) == "jobs_auditevent_default"
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE jobs_auditevent SET actor = 'u' WHERE id = %s", [stray.pk])


@pytest.mark.django_db
def test_a_month_with_too_many_rows_in_use_to_hand_on_stays_whole(job, monkeypatch):
    monkeypatch.setattr(partitions, "MOVE_AT_MOST", 1)
    old = months_ago(6)
    part = partitions.month("jobs_execution", old)
    partitions.create(part)
    done = run_of(job, ExecutionState.SUCCEEDED, scheduled_for=old)
    waiting = [
        run_of(job, ExecutionState.QUEUED, scheduled_for=old + timedelta(days=d)) for d in (1, 2)
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # see test_cleanup_handler

    result = partitions.drop_expired(
        executions_before=timezone.now() - timedelta(days=30), audit_before=None
    )

    assert result["partitions_kept"] == [part.name]
    assert part in partitions.months("jobs_execution")
    for row in (done, *waiting):
        assert where("jobs_execution", row.pk) == part.name


@pytest.mark.django_db(transaction=True)
def test_a_worker_makes_a_missing_month_ahead_in_a_thread_of_its_own(drop_made_months):
    ahead = partitions.month("jobs_execution", partitions.next_month(months_ago(0)))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {ahead.name}")
    assert ahead not in partitions.months("jobs_execution")
    partitions._tended.update(at=None, thread=None)

    partitions.tend()
    partitions._tended["thread"].join(10)
    partitions.tend()  # within the hour: nothing more

    assert ahead in partitions.months("jobs_execution")
    assert partitions._tended["thread"].name == "history-partitions"


@pytest.mark.django_db(transaction=True)
def test_retention_gives_up_on_a_month_a_long_transaction_reads_and_drops_it_later(
    job, drop_made_months, caplog
):
    old = months_ago(6)
    part = partitions.month("jobs_execution", old)
    partitions.create(part)
    run_of(job, ExecutionState.SUCCEEDED, scheduled_for=old)
    cutoff = timezone.now() - timedelta(days=30)
    with held_open(database_url(), "SELECT count(*) FROM jobs_execution"):  # a long report
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="jobs.partitions"):
            busy = partitions.drop_expired(executions_before=cutoff, audit_before=None)
        waited = time.monotonic() - started

    assert (busy["partitions_dropped"], busy["partitions_busy"]) == ([], [part.name])
    assert 0.9 <= waited < 5, waited
    assert f"Could not detach {part.name} now" in caplog.text
    assert partitions.drop_expired(executions_before=cutoff, audit_before=None) == {
        "partitions_dropped": [part.name],
        "partitions_kept": [],
        "partitions_busy": [],
    }
