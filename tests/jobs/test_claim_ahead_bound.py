"""How many a worker claims ahead: WORKER_PREFETCH, bounded by what its slots start within
WORKER_PREFETCH_WAIT_SECONDS at the pace of its recent runs (ClaimAhead's arithmetic)."""

from types import SimpleNamespace

import pytest

from jobs.worker.ahead import ClaimAhead


def ahead(settings, *, concurrency: int, prefetch: int = 10, wait: float = 1.0) -> ClaimAhead:
    settings.WORKER_PREFETCH_WAIT_SECONDS = wait
    return ClaimAhead(SimpleNamespace(concurrency=concurrency), prefetch=prefetch)


def test_before_any_run_one_per_slot(settings):
    assert ahead(settings, concurrency=1).bound() == 1
    assert ahead(settings, concurrency=4).bound() == 4
    assert ahead(settings, concurrency=32).bound() == 10


@pytest.mark.parametrize(
    ("concurrency", "run_seconds", "expected"),
    [
        (1, 0.001, 10),  # a slot starts hundreds a second: the whole prefetch
        (1, 0.2, 5),  # five runs fit in the one-second wait
        (4, 0.2, 10),
        (1, 0.4, 2),
        (2, 0.45, 4),
    ],
)
def test_after_runs_what_the_slots_start_within_the_wait(
    settings, concurrency, run_seconds, expected
):
    claim_ahead = ahead(settings, concurrency=concurrency)
    claim_ahead.ran(run_seconds)
    assert claim_ahead.bound() == expected


def test_no_wait_means_no_claiming_ahead(settings):
    assert ahead(settings, concurrency=4, wait=0).bound() == 0
