"""The service layer: creating, editing and moving jobs and executions between states."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import services
from jobs.exceptions import InvalidTransition, ValidationError
from jobs.models import Execution, Job
from jobs.states import (
    EXECUTION_ACTIONS,
    EXECUTION_TRANSITIONS,
    JOB_ACTIONS,
    JOB_TRANSITIONS,
    ExecutionState,
    JobState,
    job_sources,
)

pytestmark = pytest.mark.django_db

LATER = timedelta(hours=1)


def cron_job(owner=None, **fields):
    defaults = {"name": "nightly", "handler": "noop", "schedule_type": "cron", "cron": "30 2 * * *"}
    return services.job_create(owner=owner, **{**defaults, **fields})


def once_job(owner=None, **fields):
    defaults = {
        "name": "once",
        "handler": "noop",
        "schedule_type": "once",
        "run_at": timezone.now() + LATER,
    }
    return services.job_create(owner=owner, **{**defaults, **fields})


def job_in_state(state):
    job = cron_job()
    Job.objects.filter(pk=job.pk).update(state=state)
    job.refresh_from_db()
    return job


# --- Create and validate ----------------------------------------------------------------


def test_create_computes_the_first_run_in_the_jobs_timezone(user):
    job = cron_job(owner=user, timezone="Europe/Berlin")
    local = job.next_run_at.astimezone(timezone.get_fixed_timezone(0))
    assert job.state == JobState.ACTIVE
    assert job.next_run_at > timezone.now()
    assert local.minute == 30
    assert not job.executions.exists()


def test_once_job_already_due_is_queued_at_creation():
    job = once_job(run_at=timezone.now() - timedelta(seconds=5))
    execution = job.executions.get()
    assert execution.state == ExecutionState.QUEUED
    assert execution.scheduled_for == job.run_at
    job.refresh_from_db()
    assert job.next_run_at is None


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"handler": "nope"}, "handler", "No handler is registered"),
        ({"handler": "sleep", "payload": {"seconds": "x"}}, "payload", "is not of type"),
        ({"handler": "sleep", "payload": {}}, "payload", "'seconds' is a required property"),
        ({"cron": "99 * * * *"}, "cron", "Invalid cron"),
        ({"timezone": "Nowhere/Town"}, "timezone", "Unknown timezone"),
        (
            {"schedule_type": "interval", "cron": "", "interval_seconds": 0},
            "interval_seconds",
            "at least 1",
        ),
        ({"schedule_type": "once", "cron": ""}, "run_at", "needs run_at"),
        ({"run_at": timezone.now()}, "run_at", "belongs to one-time jobs"),
        ({"name": "  "}, "name", "needs a name"),
        ({"misfire_policy": "sometimes"}, "misfire_policy", "Must be one of"),
        ({"max_retries": 1000}, "max_retries", "between 0 and"),
        ({"timeout_seconds": 0}, "timeout_seconds", "at least 1 second"),
        ({"payload": {"blob": "x" * 300_000}}, "payload", "the limit is"),
    ],
)
def test_create_refuses_invalid_fields_and_writes_nothing(fields, field, fragment):
    with pytest.raises(ValidationError) as caught:
        cron_job(**fields)
    assert field in caught.value.errors
    assert any(fragment in message for message in caught.value.errors[field])
    assert not Job.objects.exists()


def test_create_refuses_unknown_fields():
    with pytest.raises(ValidationError) as caught:
        cron_job(colour="blue")
    assert caught.value.errors == {"colour": ["Unknown field."]}


# --- Update and reschedule --------------------------------------------------------------


def test_schedule_change_recomputes_next_run():
    job = cron_job()
    before = job.next_run_at
    # Every 7 minutes never falls on :30, so the new next run differs from 02:30 whatever
    # the time of day the test runs at.
    services.job_update(job=job, cron="*/7 * * * *")
    job.refresh_from_db()
    assert job.next_run_at != before
    assert job.next_run_at - timezone.now() <= timedelta(minutes=7)


def test_update_without_schedule_change_keeps_next_run():
    job = cron_job()
    before = job.next_run_at
    services.job_update(job=job, name="renamed", priority=5)
    job.refresh_from_db()
    assert (job.name, job.priority, job.next_run_at) == ("renamed", 5, before)


def test_invalid_update_changes_nothing():
    job = cron_job()
    with pytest.raises(ValidationError):
        services.job_update(job=job, name="new", cron="bad cron")
    job.refresh_from_db()
    assert (job.name, job.cron) == ("nightly", "30 2 * * *")


def test_reschedule_with_run_at_turns_a_job_into_a_one_time_job():
    job = cron_job()
    at = timezone.now() + timedelta(days=2)
    services.job_reschedule(job=job, run_at=at)
    job.refresh_from_db()
    assert (job.schedule_type, job.cron, job.next_run_at) == ("once", "", at)


def test_reschedule_of_a_completed_one_time_job_makes_it_active_again():
    job = once_job()
    Job.objects.filter(pk=job.pk).update(state=JobState.COMPLETED, next_run_at=None)
    job.refresh_from_db()
    at = timezone.now() + timedelta(days=1)
    services.job_reschedule(job=job, run_at=at)
    job.refresh_from_db()
    assert (job.state, job.next_run_at) == (JobState.ACTIVE, at)


def test_reschedule_to_interval_clears_the_cron():
    job = cron_job()
    services.job_reschedule(job=job, schedule_type="interval", interval_seconds=60)
    job.refresh_from_db()
    assert (job.schedule_type, job.cron, job.interval_seconds) == ("interval", "", 60)


# --- Job transitions ----------------------------------------------------------------------

STATE_CHANGES = {
    "pause": (services.job_pause, JobState.PAUSED),
    "resume": (services.job_resume, JobState.ACTIVE),
    "cancel": (services.job_cancel, JobState.CANCELLED),
}


def test_every_action_moves_only_along_the_transition_table():
    for action, (_, target) in STATE_CHANGES.items():
        for source in JOB_ACTIONS[action]:
            assert target in JOB_TRANSITIONS[source], (action, source)


@pytest.mark.parametrize("source", JobState.values)
@pytest.mark.parametrize("action", STATE_CHANGES)
def test_job_state_changes_are_refused_outside_their_source_states(source, action):
    service, target = STATE_CHANGES[action]
    job = job_in_state(source)
    if source in JOB_ACTIONS[action]:
        service(job=job)
        job.refresh_from_db()
        assert job.state == target
    else:
        with pytest.raises(InvalidTransition) as caught:
            service(job=job)
        assert f"Cannot {action} a job that is {source}" in str(caught.value)
        job.refresh_from_db()
        assert job.state == source


def test_resume_counts_from_now_not_from_the_pause():
    job = cron_job(cron="* * * * *")
    services.job_pause(job=job)
    Job.objects.filter(pk=job.pk).update(next_run_at=timezone.now() - timedelta(days=3))
    job.refresh_from_db()
    services.job_resume(job=job)
    job.refresh_from_db()
    assert job.next_run_at > timezone.now()


def test_cancel_cancels_queued_runs_and_asks_running_ones_to_stop():
    job = cron_job()
    queued = services.job_trigger(job=job)
    running = services.job_trigger(job=job)
    Execution.objects.filter(pk=running.pk).update(
        state=ExecutionState.RUNNING, started_at=timezone.now()
    )
    services.job_cancel(job=job)
    queued.refresh_from_db()
    running.refresh_from_db()
    assert queued.state == ExecutionState.CANCELLED
    assert (running.state, running.cancel_requested) == (ExecutionState.RUNNING, True)


@pytest.mark.parametrize("source", JobState.values)
def test_trigger_queues_a_run_now_unless_cancelled(source):
    job = job_in_state(source)
    before = job.next_run_at
    if source == JobState.CANCELLED:
        with pytest.raises(InvalidTransition):
            services.job_trigger(job=job)
        assert not job.executions.exists()
        return
    execution = services.job_trigger(job=job)
    assert execution.state == ExecutionState.QUEUED
    assert execution.run_after <= timezone.now()
    job.refresh_from_db()
    assert job.next_run_at == before  # the schedule is not disturbed


# --- Execution transitions ----------------------------------------------------------------


def execution_in_state(state):
    job = cron_job()
    execution = services.job_trigger(job=job)
    now = timezone.now()
    extra = {"started_at": now} if state != ExecutionState.QUEUED else {}
    if state not in (ExecutionState.QUEUED, ExecutionState.RUNNING):
        extra["finished_at"] = now
    Execution.objects.filter(pk=execution.pk).update(state=state, **extra)
    execution.refresh_from_db()
    return execution


@pytest.mark.parametrize("source", ExecutionState.values)
def test_retry_is_allowed_only_for_dead_or_cancelled_executions(source):
    execution = execution_in_state(source)
    if source in EXECUTION_ACTIONS["retry"]:
        retry = services.execution_retry(execution=execution)
        assert (retry.attempt, retry.state) == (execution.attempt + 1, ExecutionState.QUEUED)
        assert retry.scheduled_for == execution.scheduled_for
    else:
        with pytest.raises(InvalidTransition, match=f"Cannot retry a execution that is {source}"):
            services.execution_retry(execution=execution)
        assert execution.job.executions.count() == 1


def test_retrying_the_same_dead_execution_twice_is_refused():
    execution = execution_in_state(ExecutionState.DEAD)
    services.execution_retry(execution=execution)
    with pytest.raises(InvalidTransition, match="already retried"):
        services.execution_retry(execution=execution)
    assert execution.job.executions.count() == 2


def test_retrying_a_failed_one_time_job_makes_it_active_again():
    job = once_job(run_at=timezone.now())
    execution = job.executions.get()
    now = timezone.now()
    Execution.objects.filter(pk=execution.pk).update(
        state=ExecutionState.DEAD, started_at=now, finished_at=now
    )
    Job.objects.filter(pk=job.pk).update(state=JobState.FAILED)
    execution.refresh_from_db()
    services.execution_retry(execution=execution)
    job.refresh_from_db()
    assert job.state == JobState.ACTIVE


@pytest.mark.parametrize("source", ExecutionState.values)
def test_cancel_of_an_execution_follows_its_state(source):
    execution = execution_in_state(source)
    if source == ExecutionState.QUEUED:
        services.execution_cancel(execution=execution)
        assert execution.state == ExecutionState.CANCELLED
    elif source == ExecutionState.RUNNING:
        services.execution_cancel(execution=execution)
        assert (execution.state, execution.cancel_requested) == (ExecutionState.RUNNING, True)
    else:
        with pytest.raises(InvalidTransition):
            services.execution_cancel(execution=execution)
        execution.refresh_from_db()
        assert execution.state == source


def test_every_execution_state_has_a_transition_entry():
    assert set(EXECUTION_TRANSITIONS) == set(ExecutionState.values)
    assert set(JOB_TRANSITIONS) == set(JobState.values)


def test_create_many_queues_every_payload_in_one_go(user, django_assert_max_num_queries):
    payloads = [{"seconds": i} for i in range(50)]
    with django_assert_max_num_queries(8):
        ids = services.jobs_create_many(handler="sleep", payloads=payloads, owner=user)
    assert Job.objects.filter(owner=user, handler="sleep").count() == 50
    assert Execution.objects.filter(state=ExecutionState.QUEUED).count() == 50
    in_order = [Job.objects.get(pk=pk).payload["seconds"] for pk in ids]
    assert in_order == list(range(50))


def test_create_many_refuses_the_batch_when_one_payload_is_bad():
    with pytest.raises(ValidationError) as caught:
        services.jobs_create_many(handler="sleep", payloads=[{"seconds": 1}, {"seconds": "x"}])
    assert list(caught.value.errors) == ["payloads[1]"]
    assert not Job.objects.exists()


def test_users_cannot_name_an_internal_handler(user):
    with pytest.raises(ValidationError) as caught:
        services.job_create(
            owner=user,
            name="sneaky",
            handler="notification",
            payload={
                "channel": "email",
                "event": "dead",
                "job_id": str(user.pk),
                "execution_id": 1,
            },
            schedule_type="once",
            run_at=timezone.now(),
        )
    assert "used by the scheduler only" in caught.value.errors["handler"][0]
    assert not Job.objects.exists()


# --- Races: the state is checked in the database, not on the caller's copy ----------------


def stale_copy_of_a_cancelled_job(job):
    """The caller's copy still says active; another request cancelled the job since."""
    stale = Job.objects.get(pk=job.pk)
    services.job_cancel(job=Job.objects.get(pk=job.pk))
    return stale


def test_trigger_of_a_job_cancelled_since_it_was_read_is_refused():
    job = stale_copy_of_a_cancelled_job(cron_job())
    with pytest.raises(InvalidTransition, match="Cannot trigger a job that is cancelled"):
        services.job_trigger(job=job)
    assert not job.executions.exists()


def test_retry_of_an_execution_whose_job_was_cancelled_since_it_was_read_is_refused():
    execution = execution_in_state(ExecutionState.DEAD)
    stale = Execution.objects.select_related("job").get(pk=execution.pk)
    stale_copy_of_a_cancelled_job(stale.job)
    with pytest.raises(
        InvalidTransition, match="Cannot retry a execution of a job that is cancelled"
    ):
        services.execution_retry(execution=stale)
    assert stale.job.executions.count() == 1


def test_edit_of_a_job_cancelled_since_it_was_read_is_refused():
    job = stale_copy_of_a_cancelled_job(cron_job())
    with pytest.raises(InvalidTransition, match="Cannot edit a job that is cancelled"):
        services.job_update(job=job, name="renamed")
    job.refresh_from_db()
    assert (job.state, job.name) == (JobState.CANCELLED, "nightly")


def test_edits_from_two_stale_copies_keep_both_changes():
    job = cron_job()
    first, second = Job.objects.get(pk=job.pk), Job.objects.get(pk=job.pk)
    services.job_update(job=first, name="renamed")
    with CaptureQueriesContext(connection) as queries:
        services.job_update(job=second, priority=7)
    job.refresh_from_db()
    assert (job.name, job.priority) == ("renamed", 7)
    # The row is locked for the edit, and only the changed field is written.
    assert any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
    [update] = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert '"priority"' in update and '"name"' not in update


# --- Reschedule of a one-time job moves its queued run -----------------------------------


def test_reschedule_of_a_queued_one_time_job_to_a_due_time_leaves_one_queued_run():
    job = once_job(run_at=timezone.now() - timedelta(minutes=5))
    old = job.executions.get()
    new_time = timezone.now() - timedelta(seconds=1)
    services.job_reschedule(job=job, run_at=new_time)
    queued = job.executions.filter(state=ExecutionState.QUEUED)
    assert [e.scheduled_for for e in queued] == [new_time]
    old.refresh_from_db()
    assert (old.state, old.error) == (ExecutionState.CANCELLED, "Rescheduled.")


def test_reschedule_of_a_queued_one_time_job_to_later_runs_it_only_then():
    job = once_job(run_at=timezone.now() - timedelta(minutes=5))
    later = timezone.now() + LATER
    services.job_reschedule(job=job, run_at=later)
    assert not job.executions.filter(state=ExecutionState.QUEUED).exists()
    job.refresh_from_db()
    assert job.next_run_at == later


def test_reschedule_leaves_a_started_run_alone():
    job = once_job(run_at=timezone.now() - timedelta(minutes=5))
    running = job.executions.get()
    Execution.objects.filter(pk=running.pk).update(
        state=ExecutionState.RUNNING, started_at=timezone.now()
    )
    services.job_reschedule(job=job, run_at=timezone.now() + LATER)
    running.refresh_from_db()
    assert running.state == ExecutionState.RUNNING


def test_a_timezone_change_of_a_queued_one_time_job_keeps_its_run():
    job = once_job(run_at=timezone.now() - timedelta(minutes=5))
    services.job_update(job=job, timezone="Europe/Berlin")
    assert job.executions.get().state == ExecutionState.QUEUED


# --- The state tables are the one source of the SQL's source states -----------------------


def test_source_states_are_derived_from_the_tables():
    assert job_sources(JobState.COMPLETED) == {JobState.ACTIVE, JobState.PAUSED}
    assert job_sources(JobState.ACTIVE, "resume") == {JobState.PAUSED}
    assert job_sources(JobState.ACTIVE, "reschedule") == {
        JobState.PAUSED,
        JobState.COMPLETED,
        JobState.FAILED,
    }
    assert {ExecutionState.QUEUED} == services.CANCEL_AT_ONCE
    assert {ExecutionState.RUNNING} == services.CANCEL_BY_REQUEST
    assert EXECUTION_ACTIONS["cancel"] == services.CANCEL_AT_ONCE | services.CANCEL_BY_REQUEST
