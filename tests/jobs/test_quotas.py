"""jobs.quotas through the services and the worker: the cron gap, the counts under
concurrency, and the emails a day refused by the handler when the worker runs it."""

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from jobs import quotas, services
from jobs.exceptions import QuotaExceeded
from jobs.models import Execution, Job
from jobs.states import ExecutionState, JobState

MAIL = {"subject": "Hi", "body": "Hello."}


def once(owner, name: str, handler: str = "noop", **fields) -> Job:
    """A one-time job of `owner` due now, tried once."""
    return services.job_create(
        owner=owner,
        name=name,
        handler=handler,
        schedule_type="once",
        run_at=timezone.now(),
        max_retries=0,
        **fields,
    )


def emails_already_sent(owner, count: int) -> None:
    """An email job of `owner` whose run sent `count` emails just now, as the handler records."""
    now = timezone.now()
    job = once(None, "sent", "email", payload={**MAIL, "to": ["x@example.com"]})
    Job.objects.filter(pk=job.pk).update(owner=owner, state=JobState.COMPLETED)
    job.executions.update(
        state=ExecutionState.SUCCEEDED,
        started_at=now,
        finished_at=now,
        result={"message_id": "<x@example.com>", "recipients": count},
    )


@pytest.mark.parametrize(
    ("cron", "seconds"),
    [
        ("* * * * *", 60),
        ("*/7 * * * *", 240),  # :56 to the next hour's :00
        ("*/30 * * * * *", 30),
        ("* * * * * *", 1),
        ("59 23,0 * * *", 3600),
        ("30 0,59 0,23 * * *", 60),  # 23:59:30 to 00:00:30, over midnight
        ("0 9 * * 1-5", 86400),
        ("@hourly", 3600),
        ("@daily", 86400),
        ("0 0 L * *", 86400),
    ],
)
def test_the_shortest_gap_of_a_cron_expression(cron, seconds):
    assert quotas.cron_shortest_gap(cron) == seconds


@pytest.mark.django_db
def test_a_batch_is_refused_whole_when_it_passes_the_active_jobs(user, settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 3
    once(user, "one")
    with pytest.raises(QuotaExceeded) as refused:
        services.jobs_create_many(handler="noop", payloads=[{}, {}, {}], owner=user)
    assert refused.value.limit == "QUOTA_MAX_ACTIVE_JOBS"
    assert Job.objects.count() == 1
    assert len(services.jobs_create_many(handler="noop", payloads=[{}, {}], owner=user)) == 2


@pytest.mark.django_db
def test_a_batch_asking_past_a_field_limit_is_refused(user):
    with pytest.raises(QuotaExceeded) as refused:
        services.jobs_create_many(handler="noop", payloads=[{}], owner=user, priority=11)
    assert refused.value.errors == {
        "priority": ["At most 10 for your account (QUOTA_MAX_PRIORITY)."]
    }
    assert str(refused.value) == "priority: At most 10 for your account (QUOTA_MAX_PRIORITY)."
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_an_edit_that_makes_a_finished_job_active_again_counts_it(user, settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 1
    done = once(user, "done")
    Job.objects.filter(pk=done.pk).update(state=JobState.COMPLETED)
    once(user, "live")

    with pytest.raises(QuotaExceeded):
        services.job_update(job=done, run_at=timezone.now() + timedelta(hours=1))
    # Renaming it leaves it finished, so it need not fit.
    services.job_update(job=done, name="renamed")
    done.refresh_from_db()
    assert (done.state, done.name) == (JobState.COMPLETED, "renamed")


@pytest.mark.django_db(transaction=True)
def test_two_creates_at_once_cannot_both_take_the_last_place(user, settings):
    settings.QUOTA_MAX_ACTIVE_JOBS = 1
    first_inserted, let_first_commit = threading.Event(), threading.Event()
    outcome = {}

    def first():
        try:
            with transaction.atomic():
                once(user, "first")
                first_inserted.set()
                let_first_commit.wait(10)
        finally:
            connection.close()

    def second():
        try:
            once(user, "second")
            outcome["second"] = "created"
        except QuotaExceeded as error:
            outcome["second"] = error.limit
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert first_inserted.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.5)
    # The second waits on the owner's lock while the first has not committed...
    assert two.is_alive()
    let_first_commit.set()
    one.join(10)
    two.join(10)
    # ...and then counts the first's job.
    assert outcome == {"second": "QUOTA_MAX_ACTIVE_JOBS"}
    assert list(Job.objects.values_list("name", flat=True)) == ["first"]


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_no_email_past_the_days_quota(user, settings):
    settings.QUOTA_EMAILS_PER_DAY = 4
    emails_already_sent(user, 2)
    fits = once(user, "fits", "email", payload={**MAIL, "to": ["a@x.com"], "cc": ["b@x.com"]})
    too_many = once(
        user, "too many", "email", payload={**MAIL, "to": ["a@x.com", "b@x.com", "c@x.com"]}
    )
    report = once(user, "report", "report", payload={"email_to": ["d@x.com"]})

    call_command("runworker", burst=True, concurrency=1)

    # Claimed oldest first, one at a time: 2 + 2 fit in 4; then neither 3 more nor 1 more.
    assert [m.to + m.cc for m in mail.outbox] == [["a@x.com", "b@x.com"]]
    assert Execution.objects.get(job=fits).state == ExecutionState.SUCCEEDED
    for job, recipients in ((too_many, 3), (report, 1)):
        run = Execution.objects.get(job=job)
        assert run.state == ExecutionState.DEAD
        assert f"Not sent to {recipients} more recipient" in run.error
        assert "QUOTA_EMAILS_PER_DAY" in run.error
    assert quotas.emails_sent(user.pk) == 4
    # Now used up: a new email job is refused when asked for, before any worker sees it.
    with pytest.raises(QuotaExceeded) as refused:
        once(user, "more", "email", payload={**MAIL, "to": ["a@x.com"]})
    assert refused.value.limit == "QUOTA_EMAILS_PER_DAY"


@pytest.mark.django_db(transaction=True)
def test_a_staff_users_email_jobs_send_past_the_quota(django_user_model, settings):
    settings.QUOTA_EMAILS_PER_DAY = 1
    staff = django_user_model.objects.create_user(username="stef", password="x", is_staff=True)
    emails_already_sent(staff, 5)
    job = once(staff, "mail", "email", payload={**MAIL, "to": ["a@x.com"]})

    call_command("runworker", burst=True)

    assert Execution.objects.get(job=job).state == ExecutionState.SUCCEEDED
    assert len(mail.outbox) == 1
