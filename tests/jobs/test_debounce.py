"""Debounce and concurrency keys from Django code (jobs.enqueue)."""

from datetime import timedelta

import pytest
from django.utils import timezone

import jobs
from jobs.exceptions import ValidationError
from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState

pytestmark = pytest.mark.django_db


def test_a_burst_of_the_same_request_makes_one_job_with_the_last_payload_run_after_it_settles():
    first = jobs.enqueue("sleep", {"seconds": 1}, unique_key="sync:42", debounce_seconds=30)
    for seconds in (2, 3, 4):
        again = jobs.enqueue(
            "sleep", {"seconds": seconds}, unique_key="sync:42", debounce_seconds=30
        )
        assert again.pk == first.pk
    job = Job.objects.get()
    assert job.payload == {"seconds": 4}
    assert job.next_run_at > timezone.now() + timedelta(seconds=29)
    assert not Execution.objects.filter(state=ExecutionState.QUEUED).exists()


def test_a_debounced_job_already_queued_moves_its_run_back():
    job = jobs.enqueue("sleep", {"seconds": 1}, unique_key="k", debounce_seconds=0)
    assert Execution.objects.get(job=job).state == ExecutionState.QUEUED
    moved = jobs.enqueue("sleep", {"seconds": 2}, unique_key="k", debounce_seconds=60)
    assert moved.pk == job.pk and moved.payload == {"seconds": 2}
    assert Execution.objects.get(job=job).state == ExecutionState.CANCELLED
    assert moved.next_run_at > timezone.now() + timedelta(seconds=59)


def test_a_debounced_job_whose_run_started_is_left_to_finish():
    job = jobs.enqueue("sleep", {"seconds": 1}, unique_key="k", debounce_seconds=0)
    Execution.objects.filter(job=job).update(
        state=ExecutionState.RUNNING, started_at=timezone.now()
    )
    same = jobs.enqueue("sleep", {"seconds": 9}, unique_key="k", debounce_seconds=60)
    assert same.pk == job.pk
    assert Job.objects.get().payload == {"seconds": 1}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"debounce_seconds": 5},  # no unique key
        {"debounce_seconds": -1, "unique_key": "k"},
        {"debounce_seconds": 5, "unique_key": "k", "run_at": timedelta(minutes=1)},
    ],
)
def test_debounce_needs_a_unique_key_and_no_run_at(kwargs):
    with pytest.raises(ValidationError) as caught:
        jobs.enqueue("sleep", {"seconds": 1}, **kwargs)
    assert "debounce_seconds" in caught.value.errors
    assert not Job.objects.exists()


def test_enqueue_takes_a_concurrency_key_and_its_executions_carry_it():
    job = jobs.enqueue("noop", concurrency_key="customer:42", concurrency_limit=2)
    execution = Execution.objects.get(job=job)
    assert (execution.concurrency_key, execution.concurrency_limit) == ("customer:42", 2)
    triggered = jobs.services.job_trigger(job=job)
    assert (triggered.concurrency_key, triggered.concurrency_limit) == ("customer:42", 2)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"concurrency_key": "customer:42"}, "concurrency_limit"),
        ({"concurrency_limit": 2}, "concurrency_limit"),
        ({"concurrency_key": "k", "concurrency_limit": 0}, "concurrency_limit"),
        ({"concurrency_key": "k" * 201, "concurrency_limit": 1}, "concurrency_key"),
    ],
)
def test_a_key_and_its_limit_go_together(fields, field):
    with pytest.raises(ValidationError) as caught:
        jobs.enqueue("noop", **fields)
    assert field in caught.value.errors
    assert not Job.objects.exists() and not AuditEvent.objects.exists()
