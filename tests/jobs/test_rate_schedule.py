"""The rate limit's schedule, claim by claim on one connection: a start that came late is
made up by the next ones, a quiet spell is not (no burst after it), and the window of the
period holds either way."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import engine, services
from jobs.services.queues import queue_update

pytestmark = pytest.mark.django_db(transaction=True)

PERIOD = timedelta(seconds=2)


@pytest.fixture
def paced(db, worker):
    """Claim one execution of the queue `paced` (5 starts in 2 seconds: one every 400 ms, a
    start late by up to 400 ms made up) as soon as the limit allows; return the database's
    start time."""
    services.jobs_create_many(handler="noop", payloads=[{}] * 12, queue="paced")
    queue_update(name="paced", rate_limit=5, rate_period=2)

    def claim(deadline: float = 3.0):
        give_up = time.monotonic() + deadline
        while time.monotonic() < give_up:
            claimed = engine.claim_due(db, worker_id=worker.pk, queues=["paced"], limit=1)
            if claimed.executions:
                return claimed.executions[0].started_at
            time.sleep(0.005)
        raise AssertionError("the rate limit held every start back")

    return claim


def sleep_until(moment):
    time.sleep(max(0.0, (moment - timezone.now()).total_seconds()))


def test_a_late_start_is_made_up_and_the_window_still_holds(paced):
    starts = [paced()]
    # The second start was due 400 ms after the first; it comes 300 ms late.
    sleep_until(starts[0] + timedelta(milliseconds=700))
    starts += [paced(deadline=5) for _ in range(6)]
    assert starts[1] - starts[0] >= timedelta(milliseconds=700)
    # The third keeps its place on the schedule (800 ms after the first), not 400 ms after
    # the second.
    made_up = starts[2] - starts[1]
    assert made_up < timedelta(milliseconds=180), made_up
    # No period holds more than 5: the sixth waits for the first to be a period old, the
    # seventh for the second, whatever the schedule made up.
    for first, sixth in zip(starts, starts[5:], strict=False):
        assert sixth - first >= PERIOD
    assert starts[6] - starts[1] < PERIOD + timedelta(milliseconds=150)


def test_a_quiet_spell_is_not_made_up(paced):
    first = paced()
    sleep_until(first + timedelta(milliseconds=1200))
    after_quiet = paced()
    following = paced()
    # 800 ms late, more than a fifth of the period: a new schedule begins, the next start
    # a whole spacing after this one.
    assert following - after_quiet >= timedelta(milliseconds=400)
