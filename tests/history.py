"""Rows of the partitioned history (jobs.partitions) for the tests to place and find."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from jobs import partitions
from jobs.models import Execution
from jobs.states import ExecutionState


def months_ago(n: int):
    start = partitions.month_start(timezone.now())
    for _ in range(n):
        start = partitions.month_start(start - timedelta(days=1))
    return start


def where(table: str, pk: int) -> str:
    """The partition that holds row `pk` of `table`."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def run_of(job, state, *, scheduled_for, finished_at=None, attempt=1):
    unfinished = state in (ExecutionState.QUEUED, ExecutionState.RUNNING)
    return Execution.objects.create(
        job=job,
        scheduled_for=scheduled_for,
        attempt=attempt,
        state=state,
        started_at=None if state == ExecutionState.QUEUED else scheduled_for,
        finished_at=None if unfinished else (finished_at or scheduled_for + timedelta(hours=1)),
    )
