"""The job form's live schedule preview, its server side: the form's fields in, runs out."""

import pytest
from django.urls import reverse

from jobs.models import AuditEvent, Job

pytestmark = pytest.mark.django_db

URL = reverse("scheduler-schedule-preview")


def preview(client, **fields):
    return client.get(URL, {"schedule_type": "cron", "timezone": "UTC", **fields})


def test_a_cron_schedule_answers_its_runs_on_the_jobs_clock(admin_client):
    body = preview(admin_client, cron="0 12 1 * *", timezone="Europe/Berlin").json()
    assert body["description"].startswith("At 12:00, on day 1 of the month")
    assert len(body["runs"]) == 5
    assert all(run["at"].endswith(" 12:00:00") for run in body["runs"])
    assert {run["utc_offset"] for run in body["runs"]} == {"+01:00", "+02:00"}
    # A warning names the run the clocks change before.
    [changed] = [run for run in body["runs"] if run["after_clock_change"]]
    assert any(changed["at"][:16] in warning for warning in body["warnings"])


def test_run_at_is_a_wall_time_of_the_jobs_timezone(admin_client):
    body = preview(
        admin_client,
        schedule_type="once",
        run_at="2031-07-01T09:30:00",
        timezone="America/New_York",
        cron="ignored for one-time jobs",
    ).json()
    assert body["runs"] == [
        {
            "at": "2031-07-01 09:30:00",
            "weekday": "Tue",
            "utc_offset": "-04:00",
            "after_clock_change": True,
        }
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_type": "interval", "interval_seconds": "0"}, "interval_seconds"),
        ({"schedule_type": "weekly"}, "schedule_type"),
        ({"schedule_type": "once", "run_at": "soon"}, "run_at"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(admin_client, fields, field):
    response = preview(admin_client, **fields)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == [field], errors
    assert errors[field][0]["message"]


def test_it_saves_nothing_and_answers_only_staff(client, admin_client, user):
    preview(admin_client, cron="*/5 * * * *")
    assert not Job.objects.exists() and not AuditEvent.objects.exists()
    client.force_login(user)  # not staff
    response = preview(client, cron="*/5 * * * *")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert admin_client.post(URL, {"cron": "* * * * *"}).status_code == 405
