"""POST /api/v1/schedules/preview: a schedule's next runs and description, nothing saved."""

from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Job

pytestmark = pytest.mark.django_db

URL = "/api/v1/schedules/preview"


def test_a_cron_schedule_shows_its_next_runs_in_its_zone_and_in_words(alice):
    response = alice.post(
        URL,
        {"schedule_type": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin", "count": 3},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["description"] == "At 02:30, every day (Europe/Berlin)"
    assert body["timezone"] == "Europe/Berlin"
    runs = [datetime.fromisoformat(run["at"]) for run in body["runs"]]
    assert len(runs) == 3
    assert all((run.hour, run.minute) == (2, 30) for run in runs)
    assert all(later - earlier >= timedelta(hours=23) for earlier, later in pairwise(runs))
    assert {run["utc_offset"] for run in body["runs"]} <= {"+01:00", "+02:00"}
    assert runs[0] > timezone.now()


def test_an_interval_runs_every_interval_from_now(alice):
    body = alice.post(
        URL, {"schedule_type": "interval", "interval_seconds": 90, "count": 4}, format="json"
    ).json()
    runs = [datetime.fromisoformat(run["at"]) for run in body["runs"]]
    assert [later - earlier for earlier, later in pairwise(runs)] == [timedelta(seconds=90)] * 3
    assert body["description"] == "Every 90 seconds"


def test_a_one_time_schedule_in_the_past_has_no_runs_and_says_so(alice):
    past = (timezone.now() - timedelta(days=1)).isoformat()
    body = alice.post(URL, {"schedule_type": "once", "run_at": past}, format="json").json()
    assert body["runs"] == []
    assert "past" in body["warnings"][0]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"schedule_type": "cron", "cron": "61 * * * *"}, "cron"),
        ({"schedule_type": "cron", "cron": "* * * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_type": "interval"}, "interval_seconds"),
        ({"schedule_type": "once"}, "run_at"),
        ({"schedule_type": "once", "run_at": "2030-01-01T09:00:00"}, "run_at"),
        ({"schedule_type": "weekly"}, "schedule_type"),
        ({"schedule_type": "cron", "cron": "* * * * *", "count": 51}, "count"),
        ({"schedule_type": "cron", "cron": "* * * * *", "handler": "noop"}, "handler"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_saves_nothing(alice, fields, field):
    events = AuditEvent.objects.count()
    response = alice.post(URL, fields, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Job.objects.exists()
    assert AuditEvent.objects.count() == events


def test_the_preview_needs_a_signed_in_client(anon):
    response = anon.post(URL, {"schedule_type": "cron", "cron": "* * * * *"}, format="json")
    assert response.status_code == 401
