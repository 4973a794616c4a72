"""`jobsctl backfill`: a recurring job's past occurrences from a shell, and its refusals."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import AuditEvent, Execution
from tests.ops.test_jobsctl import cron_job, jobsctl, jobsctl_json, refusal, run_jobsctl

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


def hourly():
    return cron_job(name="hourly sync", cron="0 * * * *", timezone="Europe/Berlin")


def test_backfill_queues_the_missing_occurrences_and_says_how_many():
    job = hourly()
    out = jobsctl(
        "backfill", str(job.pk)[:8], "--start", "2026-11-02T06:00Z", "--end", "2026-11-02 08:00"
    )
    assert out.startswith(f"Queued 3 of 3 occurrences of job {str(job.pk)[:8]} (hourly sync)")
    assert sorted(Execution.objects.filter(job=job).values_list("scheduled_for", flat=True)) == [
        START + timedelta(hours=i) for i in range(3)
    ]
    again = jobsctl_json(
        "backfill", str(job.pk), "--start", "2026-11-02T07:00+01:00", "--end", "2026-11-02T09:00Z"
    )
    assert again == {
        "job": str(job.pk),
        "start": "2026-11-02T07:00:00+01:00",
        "end": "2026-11-02T09:00:00+00:00",
        "occurrences": 4,
        "queued": 1,
    }
    [_, second] = AuditEvent.objects.filter(action="backfill").order_by("id")
    assert (second.via, second.changes["backfill"][1]["queued"]) == ("jobsctl", 1)


@pytest.mark.parametrize(
    ("range_", "message"),
    [
        (("2026-11-02T06:00Z", "2026-11-02T05:00Z"), "end: The range is reversed"),
        (("2026-11-02T06:00Z", "2999-01-01T00:00Z"), "end: The range reaches into the future"),
        (("2026-01-01T00:00Z", "2026-11-01T00:00Z"), "end: The range holds 7,297 occurrences"),
    ],
)
def test_a_bad_range_is_refused_in_one_line_and_queues_nothing(range_, message):
    job = hourly()
    start, end = range_
    assert refusal("backfill", str(job.pk), "--start", start, "--end", end).startswith(message)
    assert not Execution.objects.filter(job=job).exists()
    assert not AuditEvent.objects.filter(action="backfill").exists()


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_bad_time_exits_2_with_one_line():
    job = hourly()
    result = run_jobsctl("backfill", str(job.pk), "--start", "yesterday", "--end", "2026-11-01")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "argument --start: 'yesterday' is not an ISO 8601 time" in result.stderr
    assert not Execution.objects.filter(job=job).exists()
    ok = run_jobsctl(
        "backfill",
        str(job.pk),
        "--start",
        "2026-11-01T00:00Z",
        "--end",
        "2026-11-01T01:00Z",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["queued"] == 2
