"""`jobs.enqueue` and `jobs.schedule`: jobs made from Django code, in the caller's transaction."""

import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

import jobs
from jobs import inprocess
from jobs.exceptions import ValidationError
from jobs.models import Execution, Job
from jobs.services import job_cancel
from jobs.states import ExecutionState, JobState, ScheduleType
from tests.conftest import ROOT


def test_importing_jobs_does_not_import_the_models():
    code = "import jobs, sys; print('jobs.models' in sys.modules, 'enqueue' in jobs.__all__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    # `jobs.enqueue` is named, but only its first use imports the models (and needs Django).
    assert out.split() == ["False", "True"]


def test_enqueue_and_schedule_are_the_inprocess_functions():
    assert jobs.enqueue is inprocess.enqueue
    assert jobs.schedule is inprocess.schedule
    with pytest.raises(AttributeError):
        jobs.no_such_thing  # noqa: B018


@pytest.mark.django_db
def test_enqueue_now_queues_the_first_execution_at_once(user, settings):
    settings.QUOTA_QUEUES = ["default", "mail"]  # the user's job runs in a queue of its own
    job = jobs.enqueue("probe", {"mode": "succeed"}, owner=user, priority=5, queue="mail")

    assert job.owner == user
    assert job.name == "probe"
    assert job.schedule_type == ScheduleType.ONCE
    [execution] = Execution.objects.filter(job=job)
    assert execution.state == ExecutionState.QUEUED
    assert (execution.queue, execution.priority) == ("mail", 5)


@pytest.mark.django_db
def test_enqueue_later_takes_a_datetime_or_a_delay():
    at = timezone.now() + timedelta(hours=2)
    by_time = jobs.enqueue("noop", run_at=at)
    by_delay = jobs.enqueue("noop", run_at=timedelta(minutes=5), max_retries=0)

    assert by_time.next_run_at == at
    assert timedelta(minutes=4) < by_delay.run_at - timezone.now() <= timedelta(minutes=5)
    assert by_delay.max_retries == 0
    assert not Execution.objects.exists()


@pytest.mark.django_db
def test_enqueue_refuses_an_unknown_handler_or_a_payload_its_schema_refuses():
    with pytest.raises(ValidationError) as unknown:
        jobs.enqueue("os.system", {"command": "true"})
    assert "handler" in unknown.value.errors
    with pytest.raises(ValidationError) as bad:
        jobs.enqueue("sleep", {"seconds": "ten"})
    assert "payload" in bad.value.errors


@pytest.mark.django_db
def test_schedule_makes_cron_and_interval_jobs():
    nightly = jobs.schedule("noop", cron="0 3 * * *", timezone="Europe/Paris", name="nightly")
    often = jobs.schedule("noop", interval=timedelta(minutes=10))

    assert (nightly.schedule_type, nightly.cron, nightly.timezone) == (
        "cron",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert nightly.next_run_at > timezone.now()
    assert (often.schedule_type, often.interval_seconds) == ("interval", 600)


@pytest.mark.django_db
@pytest.mark.parametrize("when", [{}, {"cron": "* * * * *", "interval": 60}])
def test_schedule_needs_exactly_one_of_cron_and_interval(when):
    with pytest.raises(ValidationError):
        jobs.schedule("noop", **when)


@pytest.mark.django_db(transaction=True)
def test_enqueued_job_exists_only_if_the_callers_transaction_commits():
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        jobs.enqueue("noop", unique_key="rolled-back")
        assert Job.objects.count() == 1
        raise Rollback

    assert not Job.objects.exists()
    assert not Execution.objects.exists()

    with transaction.atomic():
        kept = jobs.enqueue("noop")
    assert Job.objects.get().pk == kept.pk


@pytest.mark.django_db
def test_unique_key_returns_the_pending_job_until_it_is_finished():
    first = jobs.enqueue("noop", unique_key="invoice:7", run_at=timedelta(hours=1))
    again = jobs.enqueue("noop", unique_key="invoice:7", run_at=timedelta(hours=5))

    assert again.pk == first.pk
    assert Job.objects.filter(unique_key="invoice:7").count() == 1

    job_cancel(job=first)
    after = jobs.enqueue("noop", unique_key="invoice:7")
    assert after.pk != first.pk
    assert after.state == JobState.ACTIVE


@pytest.mark.django_db(transaction=True)
def test_concurrent_enqueues_with_one_unique_key_make_one_job():
    # The first transaction inserts and holds its commit; the second inserts the same key,
    # waits on the unique index, loses when the first commits, and returns the first's job.
    inserted, commit = threading.Event(), threading.Event()
    results, errors = {}, []

    def first():
        try:
            with transaction.atomic():
                results["first"] = jobs.enqueue("noop", unique_key="race", run_at=timedelta(1))
                inserted.set()
                commit.wait(10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def second():
        try:
            inserted.wait(10)
            with transaction.atomic():
                results["second"] = jobs.enqueue("noop", unique_key="race", run_at=timedelta(1))
                # The caller's transaction is still usable after the lost race.
                results["count"] = Job.objects.count()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert inserted.wait(10)
    # Give the second INSERT time to block on the first's uncommitted row.
    threading.Event().wait(0.5)
    commit.set()
    for thread in threads:
        thread.join(20)

    assert errors == []
    assert results["second"].pk == results["first"].pk
    assert results["count"] == 1
    assert Job.objects.filter(unique_key="race").count() == 1
