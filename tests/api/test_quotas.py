"""Quotas through HTTP: an ordinary user's request past a limit is a 403 (what a field asks) or
a 429 (a count used up) naming the limit and the field, and nothing is saved; staff users'
jobs and the scheduler's own are exempt."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution, Job
from jobs.services import job_cancel, job_create, job_pause
from jobs.states import ExecutionState, JobState

from .conftest import client_with_token, issue_secret

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs"
MAIL = {"to": ["ann@example.com"], "subject": "Hi", "body": "Hello."}
HOURLY = {
    "name": "hourly",
    "handler": "noop",
    "schedule_type": "interval",
    "interval_seconds": 3600,
}


def saved() -> tuple[int, int, int]:
    """What a refused request must leave as it was: jobs, executions, audit events."""
    return Job.objects.count(), Execution.objects.count(), AuditEvent.objects.count()


def assert_refused(response, status: int, field: str, limit: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status"] == status
    assert body["code"] == ("quota_exceeded" if status == 403 else "quota_reached")
    assert list(body["errors"]) == [field]
    assert limit in body["detail"]
    assert limit in body["errors"][field][0]
    return body


def emails_already_sent(owner, count: int, *, ago: timedelta = timedelta(0)) -> Job:
    """An email job of `owner` whose run sent `count` emails `ago`, as the handler records it."""
    now = timezone.now()
    job = job_create(name="sent", handler="email", payload=MAIL, schedule_type="once", run_at=now)
    Job.objects.filter(pk=job.pk).update(owner=owner, state=JobState.COMPLETED)
    job.executions.update(
        state=ExecutionState.SUCCEEDED,
        started_at=now - ago,
        finished_at=now - ago,
        result={"message_id": "<x@example.com>", "recipients": count},
    )
    return job


@pytest.fixture
def staffer(django_user_model):
    """A staff user without any model permission: staff, so exempt."""
    return django_user_model.objects.create_user(
        username="stef", password="pw-stef-123", is_staff=True
    )


# --- What a field may ask for: 403 ------------------------------------------------------


def test_a_priority_past_the_limit_is_refused_naming_it_and_nothing_is_saved(alice):
    before = saved()

    response = alice.post(JOBS, {**HOURLY, "priority": 11}, format="json")

    message = "At most 10 for your account (QUOTA_MAX_PRIORITY)."
    assert response.status_code == 403
    assert response.json() == {
        "status": 403,
        "code": "quota_exceeded",
        "detail": f"priority: {message}",
        "errors": {"priority": [message]},
    }
    assert saved() == before


@pytest.mark.parametrize(
    ("fields", "field", "limit"),
    [
        ({"timeout_seconds": 3601}, "timeout_seconds", "QUOTA_MAX_TIMEOUT_SECONDS"),
        ({"queue": "fast"}, "queue", "QUOTA_QUEUES"),
        ({"interval_seconds": 299}, "interval_seconds", "QUOTA_MIN_INTERVAL_SECONDS"),
        (
            {"schedule_type": "cron", "interval_seconds": None, "cron": "*/30 * * * * *"},
            "cron",
            "QUOTA_MIN_INTERVAL_SECONDS",
        ),
        (
            # Every 7 minutes: 7 apart within the hour, but :56 to :00 is 4.
            {"schedule_type": "cron", "interval_seconds": None, "cron": "*/7 * * * *"},
            "cron",
            "QUOTA_MIN_INTERVAL_SECONDS",
        ),
    ],
)
def test_each_field_limit_is_refused_with_403(alice, settings, fields, field, limit):
    settings.QUOTA_MIN_INTERVAL_SECONDS = 300
    before = saved()

    response = alice.post(JOBS, {**HOURLY, **fields}, format="json")

    assert_refused(response, 403, field, limit)
    assert saved() == before


@pytest.mark.parametrize(
    "fields",
    [
        {"priority": 10},
        {"timeout_seconds": 3600},
        {"interval_seconds": 60},
        {"schedule_type": "cron", "interval_seconds": None, "cron": "* * * * *"},
        {"schedule_type": "cron", "interval_seconds": None, "cron": "0 * * * * *"},
        {"schedule_type": "cron", "interval_seconds": None, "cron": "59 23,0 * * *"},
    ],
)
def test_a_job_at_the_limits_is_accepted(alice, fields):
    response = alice.post(JOBS, {**HOURLY, **fields}, format="json")
    assert response.status_code == 201, response.content


def test_the_limits_follow_their_settings(alice, settings):
    settings.QUOTA_MAX_PRIORITY = 100
    settings.QUOTA_QUEUES = []  # no limit
    settings.QUOTA_MIN_INTERVAL_SECONDS = 0  # no limit
    response = alice.post(
        JOBS, {**HOURLY, "priority": 100, "queue": "fast", "interval_seconds": 1}, format="json"
    )
    assert response.status_code == 201, response.content

    settings.QUOTA_MAX_TIMEOUT_SECONDS = 60
    response = alice.post(JOBS, {**HOURLY, "timeout_seconds": 61}, format="json")
    assert_refused(response, 403, "timeout_seconds", "QUOTA_MAX_TIMEOUT_SECONDS")
    # Without a timeout of its own a run may take JOB_DEFAULT_TIMEOUT_SECONDS, too long here.
    response = alice.post(JOBS, HOURLY, format="json")
    body = assert_refused(response, 403, "timeout_seconds", "JOB_DEFAULT_TIMEOUT_SECONDS")
    assert "QUOTA_MAX_TIMEOUT_SECONDS" in body["detail"]


def test_an_edit_past_a_limit_is_refused_and_changes_nothing(alice, make_job):
    job = make_job()
    before = saved()

    response = alice.patch(f"{JOBS}/{job.pk}", {"priority": 50, "name": "x"}, format="json")

    assert_refused(response, 403, "priority", "QUOTA_MAX_PRIORITY")
    job.refresh_from_db()
    assert (job.priority, job.name) == (0, "hourly")
    assert saved() == before


def test_an_edit_is_judged_on_what_it_changes(alice, user):
    # Set by an exempt hand (the scheduler, then given to alice): past her limits.
    job = job_create(**{**HOURLY, "priority": 50, "queue": "fast"})
    Job.objects.filter(pk=job.pk).update(owner=user)

    response = alice.patch(f"{JOBS}/{job.pk}", {"name": "renamed"}, format="json")

    assert response.status_code == 200, response.content
    response = alice.patch(f"{JOBS}/{job.pk}", {"priority": 40}, format="json")
    assert_refused(response, 403, "priority", "QUOTA_MAX_PRIORITY")


def test_a_reschedule_past_the_minimum_interval_is_refused(alice, make_job):
    job = make_job()
    before = saved()

    response = alice.post(
        f"{JOBS}/{job.pk}/reschedule",
        {"schedule_type": "cron", "cron": "*/10 * * * * *"},
        format="json",
    )

    assert_refused(response, 403, "cron", "QUOTA_MIN_INTERVAL_SECONDS")
    job.refresh_from_db()
    assert (job.schedule_type, job.interval_seconds) == ("interval", 3600)
    assert saved() == before


# --- Counts: 429 ------------------------------------------------------------------------


def test_active_and_paused_jobs_count_and_finished_ones_do_not(alice, make_job, settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 2
    make_job()
    job_pause(job=make_job())
    before = saved()

    response = alice.post(JOBS, HOURLY, format="json")

    body = assert_refused(response, 429, "non_field_errors", "QUOTA_MAX_ACTIVE_JOBS")
    assert body["detail"].startswith("Your account has 2 jobs active or paused")
    assert saved() == before

    job_cancel(job=Job.objects.filter(state=JobState.ACTIVE).get())
    assert alice.post(JOBS, HOURLY, format="json").status_code == 201


def test_rescheduling_a_finished_job_counts_it_again(alice, make_job, settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 1
    done = make_job(schedule_type="once", interval_seconds=None, run_at=timezone.now())
    Job.objects.filter(pk=done.pk).update(state=JobState.COMPLETED)
    make_job()

    response = alice.post(
        f"{JOBS}/{done.pk}/reschedule",
        {"run_at": (timezone.now() + timedelta(hours=1)).isoformat()},
        format="json",
    )

    assert_refused(response, 429, "non_field_errors", "QUOTA_MAX_ACTIVE_JOBS")
    assert Job.objects.get(pk=done.pk).state == JobState.COMPLETED


def test_an_email_job_is_refused_once_the_days_emails_are_sent(alice, user, settings):
    settings.QUOTA_EMAILS_PER_DAY = 5
    emails_already_sent(user, 3)
    emails_already_sent(user, 2)
    before = saved()

    response = alice.post(
        JOBS,
        {
            "name": "mail",
            "handler": "email",
            "payload": MAIL,
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
        format="json",
    )

    body = assert_refused(response, 429, "non_field_errors", "QUOTA_EMAILS_PER_DAY")
    assert "sent 5 emails in the last 24 hours" in body["detail"]
    assert saved() == before
    # A report that mails is refused too; one that does not, and any other job, is not.
    report = {
        "name": "r",
        "handler": "report",
        "schedule_type": "interval",
        "interval_seconds": 3600,
    }
    response = alice.post(JOBS, {**report, "payload": {"email_owner": True}}, format="json")
    assert_refused(response, 429, "non_field_errors", "QUOTA_EMAILS_PER_DAY")
    assert alice.post(JOBS, {**report, "payload": {}}, format="json").status_code == 201
    assert alice.post(JOBS, HOURLY, format="json").status_code == 201


def test_emails_older_than_a_day_no_longer_count(alice, user, settings):
    settings.QUOTA_EMAILS_PER_DAY = 5
    emails_already_sent(user, 5, ago=timedelta(hours=24, minutes=1))
    response = alice.post(
        JOBS,
        {
            "name": "mail",
            "handler": "email",
            "payload": MAIL,
            "schedule_type": "once",
            "run_at": timezone.now().isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def test_trigger_resume_and_backfill_of_an_email_job_are_refused_at_the_limit(
    alice, user, make_job, settings
):
    settings.QUOTA_EMAILS_PER_DAY = 5
    job = make_job(name="mail", handler="email", payload=MAIL)
    paused = job_pause(job=make_job(name="paused mail", handler="email", payload=MAIL))
    emails_already_sent(user, 5)
    before = saved()

    trigger = alice.post(f"{JOBS}/{job.pk}/trigger")
    resume = alice.post(f"{JOBS}/{paused.pk}/resume")
    start = job.next_run_at - timedelta(hours=3)
    backfill = alice.post(
        f"{JOBS}/{job.pk}/backfill",
        {"start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat()},
        format="json",
    )

    for response in (trigger, resume, backfill):
        assert_refused(response, 429, "non_field_errors", "QUOTA_EMAILS_PER_DAY")
    assert saved() == before
    assert Job.objects.get(pk=paused.pk).state == JobState.PAUSED


def test_another_users_emails_do_not_count(alice, other_user, make_job, settings):
    settings.QUOTA_EMAILS_PER_DAY = 5
    job = make_job(name="mail", handler="email", payload=MAIL)
    emails_already_sent(other_user, 5)
    assert alice.post(f"{JOBS}/{job.pk}/trigger").status_code == 202


# --- Who is exempt ----------------------------------------------------------------------


def test_staff_users_jobs_are_exempt(staffer, settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 1
    settings.QUOTA_EMAILS_PER_DAY = 1
    emails_already_sent(staffer, 10)
    client = client_with_token(issue_secret(staffer))
    past_every_limit = {
        **HOURLY,
        "handler": "email",
        "payload": MAIL,
        "priority": 1000,
        "timeout_seconds": 86400,
        "queue": "fast",
        "interval_seconds": 1,
    }
    for _ in range(2):
        response = client.post(JOBS, past_every_limit, format="json")
        assert response.status_code == 201, response.content


def test_staff_acting_on_an_ordinary_users_job_meet_that_users_limits(root, make_job):
    job = make_job()
    response = root.patch(f"{JOBS}/{job.pk}", {"priority": 50}, format="json")
    assert_refused(response, 403, "priority", "QUOTA_MAX_PRIORITY")


def test_the_schedulers_own_jobs_are_exempt(settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 1
    for _ in range(2):
        job = job_create(**{**HOURLY, "priority": 1000, "queue": "fast", "interval_seconds": 1})
        assert job.owner is None
    assert Job.objects.count() == 2
