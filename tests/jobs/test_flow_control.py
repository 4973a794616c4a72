"""Flow control with real workers on real PostgreSQL: fleet-wide queue concurrency, per-key
concurrency, rate limits and pause, each proven from the executions' recorded start and
finish times (stamped by the database at the claim and by the worker at the outcome)."""

import random
import re
import signal
import time
from collections import defaultdict
from datetime import timedelta
from uuid import UUID

import pytest
from django.db import connection

from jobs import services
from jobs.models import Execution, QueueState
from jobs.services.queues import queue_pause, queue_resume, queue_update
from jobs.states import ExecutionState
from ops import metrics
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def sleepers(queue: str, seconds: list[float], **fields) -> list[UUID]:
    """One-time `sleep` jobs of the scheduler's own (no owner: no quotas), due now; their ids."""
    payloads = [{"seconds": s} for s in seconds]
    return services.jobs_create_many(handler="sleep", payloads=payloads, queue=queue, **fields)


def spans(**filters) -> list[tuple]:
    runs = Execution.objects.filter(state=ExecutionState.SUCCEEDED, **filters)
    return list(runs.values_list("started_at", "finished_at"))


def most_at_once(intervals) -> int:
    """The largest number of [start, finish) intervals that overlap at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals])
    # At equal times a finish (-1) sorts before a start (+1): touching is not overlapping.
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def succeeded(**filters) -> int:
    return Execution.objects.filter(state=ExecutionState.SUCCEEDED, **filters).count()


def drain(workers, timeout: float) -> None:
    for worker in workers:
        assert worker.wait(timeout=timeout) == 0, worker.output()


def test_a_queue_limited_to_5_never_runs_more_than_5_across_8_workers(start_worker):
    rng = random.Random(18)
    sleepers("limited", [rng.uniform(0.02, 0.05) for _ in range(2000)])
    queue_update(name="limited", concurrency_limit=5)
    workers = [
        start_worker("--burst", "--queues", "limited", "--concurrency", "8") for _ in range(8)
    ]
    drain(workers, timeout=240)
    intervals = spans(queue="limited")
    assert len(intervals) == 2000
    assert most_at_once(intervals) == 5  # never more, and the limit was reached
    assert Execution.objects.filter(queue="limited").values("worker").distinct().count() > 1
    # /metrics: the limit beside the running gauge, and the claims the limit held back.
    page = metrics.render()[0].decode()
    assert 'scheduler_queue_concurrency_limit{queue="limited"} 5.0' in page
    held = re.search(
        r'scheduler_queue_claims_held_back_total\{limit="concurrency",queue="limited"\} (\S+)',
        page,
    )
    assert held and float(held[1]) == QueueState.objects.get(queue="limited").held_concurrency > 0


def test_keys_are_limited_each_and_keyless_jobs_are_not_held_behind_them(start_worker):
    for key in range(20):
        sleepers("keyed", [0.2] * 50, concurrency_key=f"customer:{key}", concurrency_limit=2)
    keyless = sleepers("keyed", [0.02] * 500)
    workers = [
        start_worker("--burst", "--queues", "keyed", "--concurrency", "32") for _ in range(2)
    ]
    drain(workers, timeout=240)

    by_key = defaultdict(list)
    rows = Execution.objects.filter(state=ExecutionState.SUCCEEDED, concurrency_key__isnull=False)
    for key, start, finish in rows.values_list("concurrency_key", "started_at", "finished_at"):
        by_key[key].append((start, finish))
    assert len(by_key) == 20 and sum(map(len, by_key.values())) == 1000
    assert {most_at_once(intervals) for intervals in by_key.values()} == {2}
    # 40 keyed at most, 64 slots: the keyless ones used the rest from the start.
    keyless_done = max(f for _, f in spans(job__in=keyless))
    keyed_done = max(f for intervals in by_key.values() for _, f in intervals)
    assert succeeded(job__in=keyless) == 500
    assert keyless_done < keyed_done - timedelta(seconds=2)
    assert QueueState.objects.get(queue="keyed").held_key > 0


def test_a_rate_limit_of_20_a_second_is_held_and_nearly_reached(start_worker):
    sleepers("paced", [0] * 120)
    queue_update(name="paced", rate_limit=20, rate_period=1)
    workers = [start_worker("--burst", "--queues", "paced", "--concurrency", "4") for _ in range(3)]
    drain(workers, timeout=60)
    starts = sorted(s for s, _ in spans(queue="paced"))
    assert len(starts) == 120
    window = timedelta(seconds=1)
    busiest = max(
        sum(1 for t in starts[i:] if t < first + window) for i, first in enumerate(starts)
    )
    assert busiest <= 20
    achieved = (len(starts) - 1) / (starts[-1] - starts[0]).total_seconds()
    assert achieved >= 18, achieved  # at least 90 % of the limit
    assert QueueState.objects.get(queue="paced").held_rate > 0


def database_now():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def test_nothing_is_claimed_after_a_pause_commits_and_resuming_continues(start_worker):
    sleepers("pausable", [0.02] * 400)
    workers = [start_worker("--queues", "pausable", "--concurrency", "4") for _ in range(2)]
    wait_for(lambda: succeeded(queue="pausable") >= 50, message="a drain under way")
    queue_pause(name="pausable")
    paused_at = database_now()  # after the pause's commit
    time.sleep(2)
    assert not Execution.objects.filter(queue="pausable", claimed_at__gt=paused_at).exists()
    # What a worker had claimed ahead before the pause goes back as it hears the pause (a
    # slot may still take one in the instant before): a second on, nothing starts.
    late = paused_at + timedelta(seconds=1)
    assert not Execution.objects.filter(queue="pausable", started_at__gt=late).exists()
    assert Execution.objects.filter(queue="pausable", state=ExecutionState.QUEUED).exists()
    queue_resume(name="pausable")
    wait_for(lambda: succeeded(queue="pausable") == 400, timeout=60, message="the rest to run")
    for worker in workers:
        worker.signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_a_killed_workers_keyed_runs_give_their_room_back_after_the_rescue(start_worker):
    lease = {"WORKER_LEASE_SECONDS": "2", "WORKER_HEARTBEAT_SECONDS": "0.5"}
    first, second = sleepers(
        "rescued", [60, 0.1], concurrency_key="account:7", concurrency_limit=1, max_retries=0
    )
    doomed = start_worker("--queues", "rescued", "--concurrency", "2", env=lease)
    wait_for(
        lambda: Execution.objects.filter(job=first, state=ExecutionState.RUNNING).exists(),
        message="the long run to start",
    )
    time.sleep(1)
    assert not Execution.objects.filter(job=second).exclude(state=ExecutionState.QUEUED).exists()
    doomed.signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    start_worker("--queues", "rescued", "--concurrency", "2", env=lease)
    wait_for(
        lambda: Execution.objects.filter(job=second, state=ExecutionState.SUCCEEDED).exists(),
        timeout=30,
        message="the key's room to come back",
    )
    lost = Execution.objects.get(job=first)
    assert lost.state == ExecutionState.DEAD and lost.error_code == "worker_lost"
