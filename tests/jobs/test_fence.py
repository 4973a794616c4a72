"""Fencing: a worker cut off from PostgreSQL stops its handlers within its lease, says so,
and is back within seconds of the heal; every job still succeeds exactly once.

The worker reaches the database through a TCP relay on loopback that the test cuts: while
cut, nothing crosses it either way (what is sent waits, as on a dead link), and at the heal
it flows again. A second worker, connected directly, rescues what the cut one held.
test_fence_netns.py cuts a real link in the kernel instead.
"""

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Execution
from jobs.states import ExecutionState
from tests.conftest import wait_for
from tests.partition import cut_and_heal
from tests.relay import Link
from tests.runlog.models import RunLog

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def link():
    made = Link()
    yield made
    made.close()


def test_a_worker_cut_off_stops_its_handlers_within_its_lease_and_is_back_after_the_heal(
    link, start_worker
):
    far = start_worker("--concurrency", "3", url=link.url())
    fenced_after, back_after = cut_and_heal(far, start_worker, cut=link.cut, heal=link.heal)
    print(f"fenced {fenced_after:.2f} s after the cut; back {back_after:.2f} s after the heal")


def test_a_short_cut_puts_what_the_fence_stopped_back_in_the_queue_to_run_again(link, start_worker):
    # Cut past the fence (70 % of the 3 s lease) but healed before the lease ends: nobody
    # rescues, and the stopped runs are released, not cancelled, and run again.
    jobs = [
        services.job_create(
            owner=None,
            name=f"nap {n}",
            handler="probe",
            payload={"mode": "sleep", "seconds": 4},
            schedule_type="once",
            run_at=timezone.now(),
        )
        for n in range(3)
    ]
    worker = start_worker("--concurrency", "3", url=link.url())
    wait_for(lambda: RunLog.objects.count() == 3, message="the three handlers to start")
    link.cut()
    wait_for(
        lambda: "Worker fenced: all 3 of its handlers stopped" in worker.output(),
        timeout=5,
        message="the fence",
    )
    link.heal()
    wait_for(
        lambda: Execution.objects.filter(state=ExecutionState.SUCCEEDED).count() == 3,
        timeout=30,
        message="the three to run again and succeed",
    )
    for job in jobs:
        assert [(e.attempt, e.state) for e in job.executions.all()] == [
            (1, ExecutionState.SUCCEEDED)
        ]
    assert RunLog.objects.count() == 6  # each stopped once, then run whole
    assert RunLog.objects.filter(finished_at__isnull=False).count() == 3
    assert "Released 3 executions claimed ahead: stopped by the fence" in worker.output()
