"""Job ids begin with their creation time, so new jobs land at the end of the indexes."""

import time
from uuid import UUID

import pytest

import jobs
from jobs.ids import new_id, new_ids
from jobs.models import AuditEvent, Execution, Job


def millisecond(job_id: UUID) -> int:
    """The creation time an id carries, in milliseconds since the epoch."""
    return job_id.int >> 80


def test_ids_are_version_7_with_the_time_of_their_making():
    before = time.time_ns() // 1_000_000
    made = [*new_ids(1_000), new_id()]
    after = time.time_ns() // 1_000_000
    assert {job_id.version for job_id in made} == {7}
    assert {job_id.variant for job_id in made} == {"specified in RFC 4122"}
    assert all(before <= millisecond(job_id) <= after for job_id in made)


def test_ids_made_later_sort_after_and_none_repeats():
    first = new_ids(10_000)
    time.sleep(0.002)
    second = new_ids(10_000)
    assert max(first) < min(second)
    assert len(set(first) | set(second)) == 20_000
    # The 74 random bits are random: no bit position is fixed across ten thousand ids.
    random_bits = [
        job_id.int & ((1 << 62) - 1) | (job_id.int >> 64 & 0xFFF) << 62 for job_id in first
    ]
    assert all(0 < sum(bits >> i & 1 for bits in random_bits) < 10_000 for i in range(74))


@pytest.mark.django_db
def test_enqueued_jobs_carry_their_creation_time_in_their_ids():
    one = jobs.enqueue("noop", {})
    many = jobs.enqueue_many("noop", [{} for _ in range(50)])
    rows = {job.pk: job for job in Job.objects.filter(pk__in=[one.pk, *many])}
    assert len(rows) == 51
    for job_id, job in rows.items():
        assert job_id.version == 7
        assert abs(millisecond(job_id) - job.created_at.timestamp() * 1000) < 1_000
    # Their executions and audit events are keyed by the same ids.
    assert Execution.objects.filter(job_id__in=rows).count() == 51
    assert AuditEvent.objects.filter(object_type="job", object_id__in=map(str, rows)).count() == 51
