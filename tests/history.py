"""Rows of the partitioned history (jobs.partitions) for the tests to place and find, and a
transaction another connection holds open meanwhile."""

import contextlib
import threading
from datetime import timedelta

import psycopg
from django.db import connection
from django.utils import timezone

from jobs import partitions
from jobs.models import AuditEvent, Execution
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


def audit_event(created_at=None, **fields):
    """An audit event of a test's own, at `created_at` (now by default)."""
    values = {"actor": "t", "via": "test", "action": "x", "object_type": "job", "object_id": "z"}
    return AuditEvent.objects.create(created_at=created_at or timezone.now(), **values | fields)


@contextlib.contextmanager
def held_open(url: str, statement: str, params=()):
    """Run `statement` on a connection of its own, in a transaction left open (with its
    locks) until the block ends."""
    holding, done = threading.Event(), threading.Event()

    def hold():
        with psycopg.connect(url) as other:
            other.execute(statement, params)
            holding.set()
            done.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10), "the other connection never ran its statement"
        yield
    finally:
        done.set()
        holder.join(10)
