"""The job admin's "Backfill missed runs" action: its form, its refusals, what it queues."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from jobs.models import AuditEvent, Execution
from tests.admin.conftest import messages_of, run_action

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:jobs_job_changelist")
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def hourly(make_job):
    def make(name="hourly sync", **fields):
        definition = {"schedule_type": "cron", "cron": "0 * * * *", "interval_seconds": None}
        return make_job(name=name, **{**definition, **fields})

    return make


def apply(client, jobs, start: str, end: str):
    return client.post(
        CHANGELIST,
        {
            "action": "backfill",
            "_selected_action": [str(job.pk) for job in jobs],
            "apply": "Backfill",
            "start": start,
            "end": end,
        },
        follow=True,
    )


def test_choosing_the_action_asks_for_the_range(admin_client, hourly):
    job = hourly()
    response = run_action(admin_client, CHANGELIST, "backfill", job)
    page = response.content.decode()
    assert response.templates[0].name == "admin/jobs/job/backfill.html"
    assert 'name="start"' in page and 'name="end"' in page
    assert f'value="{job.pk}"' in page and "hourly sync" in page
    assert not Execution.objects.filter(job=job).exists()


def test_applying_queues_each_jobs_missing_runs(admin_client, hourly):
    first, second = hourly("first"), hourly("second", cron="0 */2 * * *")
    response = apply(admin_client, [first, second], "2026-11-02 06:00", "2026-11-02 10:00")
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("Backfilled 2: ")
    assert "first (5 of 5 runs queued)" in message and "second (3 of 3 runs queued)" in message
    assert Execution.objects.filter(job=first).count() == 5
    assert Execution.objects.filter(job=second).count() == 3
    [event, _] = AuditEvent.objects.filter(action="backfill").order_by("id")
    assert event.via == "admin session"

    again = apply(admin_client, [first], "2026-11-02 06:00", "2026-11-02 10:00")
    assert "first (0 of 5 runs queued)" in messages_of(again)[0]


def test_the_detail_page_offers_it_for_recurring_jobs_only(admin_client, hourly, make_job):
    job = hourly()
    page = admin_client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert 'value="backfill"' in page
    once = make_job(schedule_type="once", run_at=START, interval_seconds=None)
    page = admin_client.get(reverse("admin:jobs_job_change", args=[once.pk])).content.decode()
    assert 'value="backfill"' not in page


@pytest.mark.parametrize(
    ("start", "end", "error"),
    [
        ("2026-11-02 06:00", "2026-11-02 05:00", "The range is reversed"),
        ("2026-11-02 06:00", "2999-01-01 00:00", "The range reaches into the future"),
        ("2026-09-01 00:00", "2026-11-02 00:00", "the range holds 1,489 occurrences"),
        ("last week", "2026-11-02 00:00", "Enter a valid date/time."),
    ],
)
def test_a_bad_range_is_a_form_error_and_queues_nothing(admin_client, hourly, start, end, error):
    job = hourly()
    response = apply(admin_client, [job], start, end)
    assert response.templates[0].name == "admin/jobs/job/backfill.html"
    assert error in response.content.decode()
    assert not Execution.objects.filter(job=job).exists()
    assert not AuditEvent.objects.filter(action="backfill").exists()


def test_a_one_time_job_among_them_is_refused_by_name(admin_client, hourly, make_job):
    job = hourly()
    once = make_job(name="one-off", schedule_type="once", run_at=START, interval_seconds=None)
    response = apply(admin_client, [job, once], "2026-11-02 06:00", "2026-11-02 07:00")
    texts = messages_of(response)
    assert any(t.startswith("Backfilled 1: hourly sync (2 of 2") for t in texts), texts
    assert any("one-off was not backfilled" in t and "recurring" in t for t in texts), texts
    assert Execution.objects.filter(job=once).count() == 1  # its own run, nothing more


def test_staff_who_may_only_view_cannot_backfill(client, make_staff, hourly):
    client.force_login(make_staff("view_job"))
    job = hourly()
    response = apply(client, [job], "2026-11-02 06:00", "2026-11-02 07:00")
    assert response.status_code in (200, 403)
    assert not Execution.objects.filter(job=job).exists()
