"""Quartz's L and # through the API: jobs, reschedule and the schedule preview.

Good expressions are a 201 (or 200) whose run times are checked against a calendar walk
written here, not against croniter. Bad ones are a 400 JSON naming the `cron` field, with a
message that names the cron field at fault, and nothing is saved.
"""

from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import AuditEvent, Job

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs"
PREVIEW = "/api/v1/schedules/preview"


def second_monday(day: date) -> bool:
    return day.weekday() == 0 and 8 <= day.day <= 14


def last_day(day: date) -> bool:
    return (day + timedelta(days=1)).month != day.month


def last_friday(day: date) -> bool:
    return day.weekday() == 4 and (day + timedelta(days=7)).month != day.month


def calendar_runs(zone: str, at: time, day_matches, *, after: datetime, n: int) -> list[datetime]:
    """The next `n` times `at` on days that match, in `zone`, after `after` (no DST nearby)."""
    tz, runs = ZoneInfo(zone), []
    day = after.astimezone(tz).date()
    while len(runs) < n:
        moment = datetime.combine(day, at, tz)
        if day_matches(day) and moment > after:
            runs.append(moment)
        day += timedelta(days=1)
    return runs


def cron_job(cron: str, zone: str = "UTC", **fields) -> dict:
    return {
        "name": "quartz",
        "handler": "noop",
        "schedule_type": "cron",
        "cron": cron,
        "timezone": zone,
        **fields,
    }


@pytest.mark.parametrize(
    ("cron", "zone", "at", "day_matches"),
    [
        ("0 9 * * 1#2", "Europe/Berlin", time(9), second_monday),
        ("0 9 * * MON#2", "Asia/Tokyo", time(9), second_monday),
        ("0 0 L * *", "America/New_York", time(0), last_day),
        ("30 0 9 * * 5L", "Europe/Berlin", time(9, 0, 30), last_friday),
        ("15 7 * * FRIL", "UTC", time(7, 15), last_friday),
    ],
)
def test_a_job_with_l_or_hash_is_created_with_its_runs_on_those_days(
    alice, cron, zone, at, day_matches
):
    before = timezone.now()

    response = alice.post(JOBS, cron_job(cron, zone), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    expected = calendar_runs(zone, at, day_matches, after=before, n=5)
    assert parse_datetime(body["next_run_at"]) == expected[0]
    assert [parse_datetime(run) for run in body["upcoming_runs"]] == expected
    assert Job.objects.get(pk=body["id"]).cron == cron  # stored as typed


def test_a_one_value_seconds_range_fires_once_a_minute_not_every_second(alice):
    # croniter read `59-59` as every second; the scheduler reads it as cron does.
    body = alice.post(JOBS, cron_job("59-59 * * * * *"), format="json").json()

    runs = [parse_datetime(run) for run in body["upcoming_runs"]]
    assert {run.second for run in runs} == {59}
    assert [b - a for a, b in pairwise(runs)] == [timedelta(minutes=1)] * 4


BAD = [
    ("0 0 * * 1#6", "UTC", "day of week: in '1#6' the week after # must be 1-5."),
    ("0 0 * * 1#2,3", "UTC", "day of week: 1#2 cannot share the field with plain days (3)"),
    ("0 0 L * 5L", "UTC", "day of week: 5L (a weekday of the month) needs * in the day of month"),
    ("0 0 * * L", "UTC", "day of week: L needs a day before it"),
    ("0 0 L-2 * *", "UTC", "day of month: 'L-2': L (the last day of the month) stands alone"),
    ("0 0 15W * *", "UTC", "day of month: '15W': W (the nearest weekday) is not supported."),
    ("0 22-2 * * *", "UTC", "hour: the range '22-2' runs backwards"),
    ("R * * * *", "UTC", "minute: 'R' is not a number 0-59."),
    ("60 * * * * *", "UTC", "second: 60 is out of range (0-59)."),
    ("0 0 */2 * 1-5", "UTC", "day of month: */2 beside a day of week"),
    ("0 0 30 2 *", "UTC", "day of month: 30 never falls in month 2"),
    ("*/30 2 * 3 0L", "Europe/Berlin", "never fires in Europe/Berlin"),
]


@pytest.mark.parametrize(("cron", "zone", "message"), BAD)
def test_a_job_with_a_cron_croniter_cannot_evaluate_is_400_naming_the_field(
    alice, cron, zone, message
):
    events = AuditEvent.objects.count()

    response = alice.post(JOBS, cron_job(cron, zone), format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == ["cron"]
    assert message in body["errors"]["cron"][0]
    assert "cron" in body["detail"]
    assert not Job.objects.exists()
    assert AuditEvent.objects.count() == events


def test_editing_a_job_to_a_bad_cron_is_400_and_changes_nothing(alice, make_job):
    job = make_job(schedule_type="cron", interval_seconds=None, cron="0 9 * * 1#2")
    before = (job.cron, job.next_run_at)

    response = alice.patch(f"{JOBS}/{job.pk}", {"cron": "0 9 * * 1#2,5"}, format="json")

    assert response.status_code == 400
    assert "day of week:" in response.json()["errors"]["cron"][0]
    job.refresh_from_db()
    assert (job.cron, job.next_run_at) == before


def test_rescheduling_to_the_last_friday_moves_the_next_run(alice, make_job):
    job = make_job()
    before = timezone.now()

    response = alice.post(
        f"{JOBS}/{job.pk}/reschedule",
        {"schedule_type": "cron", "cron": "0 9 * * 5L", "timezone": "Europe/Berlin"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    expected = calendar_runs("Europe/Berlin", time(9), last_friday, after=before, n=1)
    assert parse_datetime(response.json()["next_run_at"]) == expected[0]


def test_rescheduling_to_a_bad_cron_is_400_and_changes_nothing(alice, make_job):
    job = make_job()

    response = alice.post(
        f"{JOBS}/{job.pk}/reschedule",
        {"schedule_type": "cron", "cron": "0 9 L * 5L"},
        format="json",
    )

    assert response.status_code == 400
    assert "day of week:" in response.json()["errors"]["cron"][0]
    job.refresh_from_db()
    assert (job.schedule_type, job.cron, job.interval_seconds) == ("interval", "", 3600)


# --- The schedule preview ---------------------------------------------------------------


def test_the_preview_of_the_second_monday_lists_second_mondays_and_says_so(alice):
    before = timezone.now()

    response = alice.post(
        PREVIEW,
        {"schedule_type": "cron", "cron": "0 9 * * 1#2", "timezone": "Europe/Berlin", "count": 4},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["description"] == "At 09:00, on the second Monday of the month (Europe/Berlin)"
    runs = [datetime.fromisoformat(run["at"]) for run in body["runs"]]
    assert runs == calendar_runs("Europe/Berlin", time(9), second_monday, after=before, n=4)


def test_the_preview_of_a_list_of_last_and_nth_days_reads_each(alice):
    body = alice.post(
        PREVIEW,
        {"schedule_type": "cron", "cron": "0 9 1,15,L * *", "count": 3},
        format="json",
    ).json()

    assert body["description"] == ("At 09:00, on day 1, day 15 and the last day of the month (UTC)")
    days = [datetime.fromisoformat(run["at"]).date() for run in body["runs"]]
    assert all(day.day in (1, 15) or last_day(day) for day in days)


@pytest.mark.parametrize(("cron", "zone", "message"), BAD)
def test_the_preview_of_a_bad_cron_is_400_naming_the_field(alice, cron, zone, message):
    response = alice.post(
        PREVIEW, {"schedule_type": "cron", "cron": cron, "timezone": zone}, format="json"
    )

    assert response.status_code == 400, response.json()
    assert message in response.json()["errors"]["cron"][0]
    assert not Job.objects.exists()
