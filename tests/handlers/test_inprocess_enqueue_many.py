"""`jobs.enqueue_many`: thousands of one-time jobs in one call, in the caller's transaction."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

import jobs
from jobs import inprocess
from jobs.exceptions import QuotaExceeded, ValidationError
from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState

pytestmark = pytest.mark.django_db


def test_enqueue_many_is_the_inprocess_function():
    assert jobs.enqueue_many is inprocess.enqueue_many


def test_each_payload_becomes_a_job_queued_now_in_the_order_given():
    payloads = [{"seconds": n} for n in range(300)]
    ids = jobs.enqueue_many("sleep", payloads, queue="bulk", priority=4, max_retries=1)

    assert [Job.objects.get(pk=pk).payload for pk in ids[::30]] == payloads[::30]
    queued = Execution.objects.filter(job_id__in=ids, state=ExecutionState.QUEUED)
    assert queued.count() == 300
    assert set(queued.values_list("queue", "priority", "attempt")) == {("bulk", 4, 1)}
    assert set(Job.objects.filter(pk__in=ids).values_list("max_retries", flat=True)) == {1}
    created = AuditEvent.objects.filter(action="create", object_type="job")
    assert set(created.values_list("object_id", flat=True)) == {str(pk) for pk in ids}


def test_a_delay_plans_the_jobs_without_queueing_them():
    ids = jobs.enqueue_many("noop", [{}, {}], run_at=timedelta(minutes=5))
    later = Job.objects.filter(pk__in=ids)
    assert all(
        timedelta(minutes=4) < job.next_run_at - timezone.now() <= timedelta(minutes=5)
        for job in later
    )
    assert not Execution.objects.exists()


def test_one_bad_payload_refuses_the_batch_and_writes_nothing():
    with pytest.raises(ValidationError) as caught:
        jobs.enqueue_many("sleep", [{"seconds": 1}] * 99 + [{"seconds": "soon"}])
    assert list(caught.value.errors) == ["payloads[99]"]
    assert not Job.objects.exists() and not AuditEvent.objects.exists()


def test_the_jobs_exist_only_if_the_callers_transaction_commits():
    class Abandon(Exception):
        pass

    with pytest.raises(Abandon), transaction.atomic():
        jobs.enqueue_many("noop", [{}] * 100)
        assert Job.objects.count() == 100
        raise Abandon
    assert not Job.objects.exists() and not Execution.objects.exists()


def test_a_refused_batch_inside_a_transaction_leaves_the_callers_writes(user, settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 50
    with transaction.atomic():
        kept = jobs.enqueue("noop", owner=user)
        with pytest.raises(QuotaExceeded):
            jobs.enqueue_many("noop", [{}] * 60, owner=user)
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]
