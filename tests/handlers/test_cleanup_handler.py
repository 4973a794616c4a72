"""The cleanup handler and `manage.py ensure_cleanup_job`."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from handlers.cleanup import purge
from jobs import partitions
from jobs.models import AuditEvent, Execution, Job
from jobs.services import job_create, job_pause
from jobs.states import ExecutionState, JobState
from tests.conftest import database_url
from tests.history import audit_event, held_open, months_ago, run_of, where

OLD = timedelta(days=40)
RECENT = timedelta(hours=1)


def make_job(owner=None, *, state=JobState.ACTIVE, age=OLD, recurring=False, name="job"):
    schedule = (
        {"schedule_type": "interval", "interval_seconds": 3600}
        if recurring
        else {"schedule_type": "once", "run_at": timezone.now() + timedelta(days=300)}
    )
    job = job_create(owner=owner, name=name, handler="noop", payload={}, **schedule)
    Job.objects.filter(pk=job.pk).update(state=state, updated_at=timezone.now() - age)
    return job


def make_execution(job, state, *, age=OLD, attempt=1):
    at = timezone.now() - age
    running_or_done = state != ExecutionState.QUEUED
    finished = state not in (ExecutionState.QUEUED, ExecutionState.RUNNING)
    return Execution.objects.create(
        job=job,
        scheduled_for=at,
        attempt=attempt,
        state=state,
        created_at=at,
        started_at=at if running_or_done else None,
        finished_at=at if finished else None,
    )


@pytest.fixture
def rows(user, other_user):
    recurring = make_job(user, recurring=True, name="recurring")
    done_once = make_job(user, state=JobState.COMPLETED, name="done once")
    return {
        "recurring": recurring,
        "old_done": [
            make_execution(recurring, ExecutionState.SUCCEEDED, attempt=1),
            make_execution(recurring, ExecutionState.DEAD, attempt=2),
            make_execution(recurring, ExecutionState.CANCELLED, attempt=3),
        ],
        "recent_done": make_execution(recurring, ExecutionState.FAILED, age=RECENT, attempt=4),
        "old_queued": make_execution(recurring, ExecutionState.QUEUED, attempt=5),
        "old_running": make_execution(recurring, ExecutionState.RUNNING, attempt=6),
        "done_once": done_once,
        "done_once_run": make_execution(done_once, ExecutionState.SUCCEEDED),
        "failed_once_recent_run": make_job(user, state=JobState.FAILED, name="failed recently"),
        "cancelled_recurring": make_job(
            user, state=JobState.CANCELLED, recurring=True, name="cancelled recurring"
        ),
        "active_once": make_job(user, name="active once"),
        "recent_done_once": make_job(user, state=JobState.COMPLETED, age=RECENT, name="new"),
        "bobs_old_run": make_execution(
            make_job(other_user, recurring=True, name="bob's"), ExecutionState.SUCCEEDED
        ),
    }


@pytest.mark.django_db
def test_cleanup_deletes_old_finished_rows_and_leaves_recent_and_unfinished_ones(
    run_handler, user, rows
):
    make_execution(rows["failed_once_recent_run"], ExecutionState.DEAD, age=RECENT)

    result = run_handler("cleanup", {"retention_days": 30}, owner=user)

    # Three of the recurring job's, and the finished one-time job's run.
    assert result["executions_deleted"] == 4
    assert result["jobs_deleted"] == 1
    assert result["complete"] is True
    remaining = set(Execution.objects.values_list("pk", flat=True))
    assert not {e.pk for e in rows["old_done"]} & remaining
    assert {
        rows["recent_done"].pk,
        rows["old_queued"].pk,
        rows["old_running"].pk,
        rows["bobs_old_run"].pk,  # another owner's: not this cleanup's business
    } <= remaining
    assert not Job.objects.filter(pk=rows["done_once"].pk).exists()
    assert not Execution.objects.filter(pk=rows["done_once_run"].pk).exists()
    for kept in (
        "recurring",
        "failed_once_recent_run",
        "cancelled_recurring",
        "active_once",
        "recent_done_once",
    ):
        assert Job.objects.filter(pk=rows[kept].pk).exists(), kept


@pytest.mark.django_db
def test_system_cleanup_without_owner_cleans_every_owner(run_handler, rows):
    run_handler("cleanup", {"retention_days": 30})

    assert not Execution.objects.filter(pk=rows["bobs_old_run"].pk).exists()
    assert Execution.objects.filter(pk=rows["old_running"].pk).exists()


@pytest.mark.django_db
def test_cleanup_works_in_batches_and_stops_at_max_batches(user):
    job = make_job(user, recurring=True)
    for attempt in range(1, 8):
        make_execution(job, ExecutionState.SUCCEEDED, attempt=attempt)
    cutoff = timezone.now() - timedelta(days=30)

    partial = purge(cutoff=cutoff, batch_size=2, max_batches=2)
    assert partial == {**partial, "executions_deleted": 4, "batches": 2, "complete": False}

    rest = purge(cutoff=cutoff, batch_size=2)
    assert rest["executions_deleted"] == 3
    assert rest["batches"] == 2
    assert rest["complete"] is True
    assert not Execution.objects.filter(job=job).exists()


@pytest.mark.django_db(transaction=True)
def test_cleanup_skips_a_row_another_transaction_holds_instead_of_waiting(user):
    job = make_job(user, recurring=True)
    held = make_execution(job, ExecutionState.SUCCEEDED, attempt=1)
    free = make_execution(job, ExecutionState.SUCCEEDED, attempt=2)
    table = Execution._meta.db_table
    with held_open(database_url(), f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [held.pk]):
        result = purge(cutoff=timezone.now() - timedelta(days=30), batch_size=10)

    assert result["executions_deleted"] == 1
    assert list(Execution.objects.values_list("pk", flat=True)) == [held.pk]
    assert not Execution.objects.filter(pk=free.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_cleanup_job_runs_on_the_worker(user):
    job = make_job(user, recurring=True)
    old = make_execution(job, ExecutionState.SUCCEEDED)
    cleanup = job_create(
        name="cleanup",
        handler="cleanup",
        payload={"retention_days": 30},
        schedule_type="once",
        run_at=timezone.now(),
    )

    call_command("runworker", burst=True)

    run = Execution.objects.get(job=cleanup)
    assert run.state == ExecutionState.SUCCEEDED, run.error
    assert run.result["executions_deleted"] == 1
    assert not Execution.objects.filter(pk=old.pk).exists()


@pytest.mark.django_db
def test_ensure_cleanup_job_creates_one_recurring_job_and_is_idempotent(capsys):
    call_command("ensure_cleanup_job")
    call_command("ensure_cleanup_job")

    [job] = Job.objects.filter(handler="cleanup")
    assert job.owner is None
    assert job.schedule_type == "cron"
    assert job.state == JobState.ACTIVE
    assert job.next_run_at > timezone.now()
    out = capsys.readouterr().out
    assert "Cleanup job created" in out
    assert "Cleanup job exists" in out


@pytest.mark.django_db
def test_ensure_cleanup_job_leaves_a_paused_job_paused_and_updates_on_request():
    call_command("ensure_cleanup_job")
    job = Job.objects.get(handler="cleanup")
    job_pause(job=job)

    call_command("ensure_cleanup_job")
    call_command("ensure_cleanup_job", "--update", "--cron", "0 4 * * 0", "--retention-days", "7")

    [job] = Job.objects.filter(handler="cleanup")
    assert job.state == JobState.PAUSED
    assert job.cron == "0 4 * * 0"
    assert job.payload == {"retention_days": 7}


@pytest.mark.django_db
def test_cleanup_drops_whole_months_past_retention_and_hands_on_the_rows_still_needed(
    run_handler, user
):
    job = make_job(user, recurring=True)
    months = [partitions.month("jobs_execution", months_ago(n)) for n in (6, 5, 4)]
    for part in months:
        partitions.create(part)
    trail_month = partitions.month("jobs_auditevent", months_ago(6))
    partitions.create(trail_month)
    old, queued_month, retried_month = (part.start for part in months)
    gone = [
        run_of(job, ExecutionState.SUCCEEDED, scheduled_for=old + timedelta(days=d))
        for d in range(3)
    ]
    waiting = run_of(job, ExecutionState.QUEUED, scheduled_for=queued_month)
    # A retry long after its occurrence: old occurrence, recent end.
    retried = run_of(
        job, ExecutionState.FAILED, scheduled_for=retried_month, finished_at=timezone.now()
    )
    # No month holds this one: deleted row by row.
    stray = run_of(job, ExecutionState.DEAD, scheduled_for=months_ago(9))
    trail = audit_event(old)
    recent_trail = AuditEvent.objects.filter(object_id=str(job.pk)).get()

    with connection.cursor() as cursor:
        # The test's one transaction holds the rows' deferred foreign key checks, which
        # PostgreSQL will not leave pending over a DROP (a worker's run commits them first).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    result = run_handler("cleanup", {"retention_days": 30, "audit_retention_days": 60})

    assert result["partitions_dropped"] == [part.name for part in [*months, trail_month]]
    assert result["partitions_kept"] == result["partitions_busy"] == []
    assert result["executions_deleted"] == 1
    assert not Execution.objects.filter(pk__in=[r.pk for r in [*gone, stray]]).exists()
    # The rows in use live on, as they were, in the default partition.
    for row in (waiting, retried):
        assert where("jobs_execution", row.pk) == "jobs_execution_default"
        kept = Execution.objects.get(pk=row.pk)
        assert (kept.state, kept.scheduled_for, kept.finished_at) == (
            row.state,
            row.scheduled_for,
            row.finished_at,
        )
    assert set(Execution.objects.filter(job=job).values_list("pk", flat=True)) == {
        waiting.pk,
        retried.pk,
    }
    assert not AuditEvent.objects.filter(pk=trail.pk).exists()
    assert AuditEvent.objects.filter(pk=recent_trail.pk).exists()
    assert Job.objects.filter(pk=job.pk).exists()
    for part in months:
        assert part not in partitions.months("jobs_execution")
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [part.name])
            assert cursor.fetchone() == (None,)


@pytest.mark.django_db
def test_audit_events_are_kept_whole_by_default(run_handler):
    old = partitions.month("jobs_auditevent", months_ago(30))
    partitions.create(old)
    trail = audit_event(old.start)

    result = run_handler("cleanup", {"retention_days": 30})

    assert result["partitions_dropped"] == []
    assert AuditEvent.objects.filter(pk=trail.pk).exists()
