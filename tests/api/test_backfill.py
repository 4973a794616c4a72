"""POST /api/v1/jobs/{id}/backfill: a recurring job's past occurrences that never ran."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution
from jobs.services import job_cancel
from jobs.states import ExecutionState

pytestmark = pytest.mark.django_db

# The night Europe/Berlin went back from CEST to CET: 03:00 CEST (01:00 UTC) became 02:00 CET.
FALL_BACK_START = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 CEST
FALL_BACK_END = datetime(2026, 10, 25, 3, 0, tzinfo=UTC)  # 04:00 CET


def url(job) -> str:
    return f"/api/v1/jobs/{job.pk}/backfill"


def backfill(client, job, start, end):
    return client.post(
        url(job), {"start": start.isoformat(), "end": end.isoformat()}, format="json"
    )


def scheduled(job) -> list[datetime]:
    return list(
        Execution.objects.filter(job=job, attempt=1)
        .order_by("scheduled_for")
        .values_list("scheduled_for", flat=True)
    )


def hours(start: datetime, n: int) -> list[datetime]:
    return [start + timedelta(hours=i) for i in range(n)]


@pytest.fixture
def make_job(make_job):
    """make_job with an interval only where the job is an interval one."""

    def make(**fields):
        if fields.get("schedule_type", "interval") != "interval":
            fields.setdefault("interval_seconds", None)
        return make_job(**fields)

    return make


def test_backfill_queues_each_missing_occurrence_once(alice, make_job):
    job = make_job(schedule_type="cron", cron="0 * * * *", timezone="Europe/Berlin")
    start = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    response = backfill(alice, job, start, start + timedelta(hours=5))
    assert response.status_code == 202, response.content
    assert response.json() == {
        "start": "2026-11-02T06:00:00Z",
        "end": "2026-11-02T11:00:00Z",
        "occurrences": 6,
        "queued": 6,
    }
    assert scheduled(job) == hours(start, 6)
    runs = Execution.objects.filter(job=job)
    assert {(run.state, run.queue, run.priority) for run in runs} == {
        (ExecutionState.QUEUED, job.queue, job.priority)
    }
    assert all(run.run_after <= timezone.now() for run in runs)
    # Oldest first: the claim takes equal priorities by run_after, then id.
    assert [run.scheduled_for for run in runs.order_by("id")] == hours(start, 6)

    again = backfill(alice, job, start, start + timedelta(hours=5)).json()
    assert (again["occurrences"], again["queued"]) == (6, 0)
    assert Execution.objects.filter(job=job).count() == 6
    events = AuditEvent.objects.filter(action="backfill", object_id=str(job.pk))
    assert [event.changes["backfill"][1]["queued"] for event in events.order_by("id")] == [6, 0]


def test_an_occurrence_that_already_ran_is_left_alone(alice, make_job, make_execution):
    job = make_job(schedule_type="cron", cron="0 * * * *")
    start = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
    failed = make_execution(job, ExecutionState.DEAD, scheduled_for=start + timedelta(hours=1))
    body = backfill(alice, job, start, start + timedelta(hours=2)).json()
    assert (body["occurrences"], body["queued"]) == (3, 2)
    assert Execution.objects.filter(job=job, scheduled_for=failed.scheduled_for).count() == 1


def test_a_wildcard_schedule_backfills_both_passes_of_the_repeated_hour(alice, make_job):
    job = make_job(schedule_type="cron", cron="0 * * * *", timezone="Europe/Berlin")
    body = backfill(alice, job, FALL_BACK_START, FALL_BACK_END).json()
    # 00:00, 01:00, 02:00 CEST, 02:00 CET, 03:00, 04:00 CET: every real hour of the night.
    assert body["queued"] == 6
    assert scheduled(job) == hours(FALL_BACK_START, 6)


def test_a_fixed_time_schedule_backfills_the_repeated_time_once(alice, make_job):
    job = make_job(schedule_type="cron", cron="30 2 * * *", timezone="Europe/Berlin")
    body = backfill(alice, job, FALL_BACK_START, FALL_BACK_END).json()
    assert body["queued"] == 1
    assert scheduled(job) == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC)]  # 02:30 CEST


def test_an_interval_schedule_keeps_its_phase(alice, make_job):
    job = make_job(schedule_type="interval", interval_seconds=900)
    start, end = job.next_run_at - timedelta(hours=2, minutes=7), job.next_run_at
    end -= timedelta(hours=1)
    body = backfill(alice, job, start, end).json()
    runs = scheduled(job)
    assert body["queued"] == len(runs) == 5  # 2:00, 1:45, 1:30, 1:15 and 1:00 before
    assert all((job.next_run_at - run) % timedelta(seconds=900) == timedelta(0) for run in runs)
    assert start <= runs[0] < start + timedelta(seconds=900) and runs[-1] == end


def test_a_paused_job_can_be_backfilled(alice, make_job):
    job = make_job(schedule_type="cron", cron="0 0 * * *")
    alice.post(f"/api/v1/jobs/{job.pk}/pause")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert backfill(alice, job, start, start + timedelta(days=2)).json()["queued"] == 3


def assert_refused(response, field: str, words: str, job) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert words in " ".join(body["errors"][field]), body
    assert not Execution.objects.filter(job=job).exists()
    assert not AuditEvent.objects.filter(action="backfill").exists()


def test_a_range_in_the_future_is_refused(alice, make_job):
    job = make_job(schedule_type="cron", cron="0 * * * *")
    now = timezone.now()
    response = backfill(alice, job, now - timedelta(hours=3), now + timedelta(hours=1))
    assert_refused(response, "end", "future", job)


def test_a_reversed_range_is_refused(alice, make_job):
    job = make_job(schedule_type="cron", cron="0 * * * *")
    start = datetime(2026, 11, 3, tzinfo=UTC)
    response = backfill(alice, job, start, start - timedelta(hours=1))
    assert_refused(response, "end", "reversed", job)


def test_a_range_past_the_limit_is_refused_naming_its_count(alice, make_job):
    job = make_job(schedule_type="cron", cron="* * * * *")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    response = backfill(alice, job, start, start + timedelta(days=2))
    assert_refused(response, "end", "holds 2,881 occurrences", job)
    assert "at most 1,000" in response.json()["detail"]


def test_a_huge_range_is_refused_without_counting_it_all(alice, make_job, settings):
    settings.QUOTA_MIN_INTERVAL_SECONDS = 0  # an every-second cron, past the default quota
    job = make_job(schedule_type="cron", cron="* * * * * *")
    start = datetime(2025, 11, 1, tzinfo=UTC)
    response = backfill(alice, job, start, start + timedelta(days=365))
    assert_refused(response, "end", "more than 10,000 occurrences", job)


def test_the_limit_is_a_setting(alice, make_job, settings):
    settings.BACKFILL_MAX_OCCURRENCES = 5
    job = make_job(schedule_type="interval", interval_seconds=60)
    start = job.next_run_at - timedelta(hours=1)
    response = backfill(alice, job, start, start + timedelta(minutes=10))
    assert_refused(response, "end", "at most 5", job)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"end": "2026-11-01T00:00:00Z"}, "start"),
        ({"start": "2026-11-01T00:00:00Z"}, "end"),
        ({"start": "yesterday", "end": "2026-11-01T00:00:00Z"}, "start"),
        ({"start": "2026-11-01T00:00:00Z", "end": 5}, "end"),
        ({"start": "0001-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"}, "start"),
    ],
)
def test_bad_fields_are_refused_by_name(alice, make_job, body, field):
    job = make_job(schedule_type="cron", cron="0 * * * *")
    response = alice.post(url(job), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Execution.objects.filter(job=job).exists()


def test_a_one_time_job_cannot_be_backfilled(alice, make_job):
    job = make_job(schedule_type="once", run_at=timezone.now() + timedelta(days=1))
    start = datetime(2026, 11, 1, tzinfo=UTC)
    response = backfill(alice, job, start, start + timedelta(hours=1))
    assert_refused(response, "schedule_type", "recurring", job)


def test_a_cancelled_job_cannot_be_backfilled(alice, make_job):
    job = make_job(schedule_type="cron", cron="0 * * * *")
    job_cancel(job=job)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    response = backfill(alice, job, start, start + timedelta(hours=1))
    assert response.status_code == 409, response.content
    assert response.json()["detail"] == "Cannot backfill a job that is cancelled."
    assert not Execution.objects.filter(job=job).exists()


def test_another_users_job_is_not_found(bob, make_job):
    job = make_job(schedule_type="cron", cron="0 * * * *")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    assert backfill(bob, job, start, start + timedelta(hours=1)).status_code == 404
    assert not Execution.objects.filter(job=job).exists()
