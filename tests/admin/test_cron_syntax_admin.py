"""Quartz's L and # in the admin's job form, through Django's test client.

A good expression is saved with its next run on the right day and reads well in the list; a
bad one is a form error on `cron` that names the cron field at fault, and nothing is saved.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Job

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/jobs/job/add/"
LIST_URL = "/admin/jobs/job/"


def form_data(**overrides) -> dict:
    """What the add form posts for a cron job."""
    data = {
        "name": "month end",
        "handler": "noop",
        "payload": "{}",
        "schedule_type": "cron",
        "cron": "0 9 * * 5L",
        "timezone": "Europe/Berlin",
        "misfire_policy": "run_once",
        "queue": "default",
        "priority": "0",
        "max_retries": "3",
        "retry_backoff_seconds": "10",
        "notify_digest_minutes": "15",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def next_day_at(zone: str, at: time, matches, after: datetime) -> datetime:
    """The first `at` in `zone` after `after` on a day that `matches` (a calendar walk)."""
    day = after.astimezone(ZoneInfo(zone)).date()
    while not (matches(day) and datetime.combine(day, at, ZoneInfo(zone)) > after):
        day += timedelta(days=1)
    return datetime.combine(day, at, ZoneInfo(zone))


def last_friday(day: date) -> bool:
    return day.weekday() == 4 and (day + timedelta(days=7)).month != day.month


def second_monday(day: date) -> bool:
    return day.weekday() == 0 and 8 <= day.day <= 14


def test_a_last_friday_job_made_in_the_form_runs_on_the_last_friday(admin_client):
    before = timezone.now()

    response = admin_client.post(ADD_URL, form_data(), follow=True)

    assert response.status_code == 200
    job = Job.objects.get()
    assert job.cron == "0 9 * * 5L"
    assert job.next_run_at == next_day_at("Europe/Berlin", time(9), last_friday, before)
    page = admin_client.get(LIST_URL).content.decode()
    assert "At 09:00, on the last Friday of the month (Europe/Berlin)" in page


def test_a_second_monday_job_shows_its_next_runs_on_second_mondays(admin_client):
    admin_client.post(ADD_URL, form_data(cron="30 7 * * MON#2", timezone="UTC"))
    job = Job.objects.get()

    page = admin_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    upcoming = page.split("field-upcoming")[1].split("</div>\n")[0]

    assert upcoming.count(" UTC</div>") == 5
    assert job.next_run_at.strftime("%Y-%m-%d %H:%M") in upcoming
    assert second_monday(job.next_run_at.date())
    assert "At 07:30, on the second Monday of the month (UTC)" in page


@pytest.mark.parametrize(
    ("cron", "zone", "words"),
    [
        ("0 9 * * 1#6", "UTC", "day of week: in '1#6' the week after # must be 1-5."),
        ("0 9 * * 1#2,3", "UTC", "day of week: 1#2 cannot share the field with plain days"),
        ("0 9 15 * 5L", "UTC", "day of week: 5L (a weekday of the month) needs * in the day"),
        ("0 9 L-1 * *", "UTC", "day of month: 'L-1'"),
        ("0 9 LW * *", "UTC", "day of month: 'LW'"),
        ("59-58 * * * * *", "UTC", "second: the range '59-58' runs backwards"),
        ("0 9 31 4 *", "UTC", "day of month: 31 never falls in month 4"),
        ("*/30 2 * 3 0L", "Europe/Berlin", "never fires in Europe/Berlin"),
    ],
)
def test_a_cron_croniter_cannot_evaluate_is_a_form_error_and_nothing_is_saved(
    admin_client, cron, zone, words
):
    events = AuditEvent.objects.count()

    response = admin_client.post(ADD_URL, form_data(cron=cron, timezone=zone))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["cron"], errors
    assert words in errors["cron"][0]
    assert words in response.content.decode().replace("&#x27;", "'")
    assert not Job.objects.exists()
    assert AuditEvent.objects.count() == events


def test_editing_a_job_to_a_bad_cron_is_a_form_error_and_changes_nothing(admin_client):
    admin_client.post(ADD_URL, form_data())
    job = Job.objects.get()
    before = (job.cron, job.next_run_at)

    response = admin_client.post(
        f"/admin/jobs/job/{job.pk}/change/", form_data(cron="0 9 * * 5L,1")
    )

    assert response.status_code == 200
    assert "day of week:" in response.context["adminform"].form.errors["cron"][0]
    job.refresh_from_db()
    assert (job.cron, job.next_run_at) == before
