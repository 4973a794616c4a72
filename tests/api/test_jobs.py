"""Jobs through HTTP: create, list (filters, ordering, pages), show, replace, update, delete."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.models import Execution, Job
from jobs.services import job_cancel, job_pause
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs"


def times(values):
    return [parse_datetime(v) for v in values]


# --- create -----------------------------------------------------------------------------


def test_creating_a_cron_job_returns_it_with_its_next_five_runs(alice, user):
    response = alice.post(
        JOBS,
        {
            "name": "Nightly",
            "handler": "sleep",
            "payload": {"seconds": 1},
            "schedule_type": "cron",
            "cron": "0 3 * * *",
            "timezone": "Europe/Berlin",
            "priority": 5,
        },
    )

    assert response.status_code == 201
    body = response.json()
    job = Job.objects.get(pk=body["id"])
    assert job.owner == user
    assert body["owner"] == "alice"
    assert body["state"] == "active"
    assert body["payload"] == {"seconds": 1}
    assert parse_datetime(body["next_run_at"]) == job.next_run_at
    runs = times(body["upcoming_runs"])
    assert len(runs) == 5
    assert runs[0] == job.next_run_at
    berlin = [run.astimezone(ZoneInfo("Europe/Berlin")) for run in runs]
    assert {(t.hour, t.minute) for t in berlin} == {(3, 0)}
    assert [(b.date() - a.date()).days for a, b in pairwise(berlin)] == [1, 1, 1, 1]


def test_creating_an_interval_job_counts_from_now(alice):
    before = timezone.now()

    body = alice.post(
        JOBS,
        {"name": "poll", "handler": "noop", "schedule_type": "interval", "interval_seconds": 60},
    ).json()

    first = parse_datetime(body["next_run_at"])
    assert before + timedelta(seconds=60) <= first <= timezone.now() + timedelta(seconds=60)
    runs = times(body["upcoming_runs"])
    assert [run - first for run in runs] == [timedelta(seconds=60 * i) for i in range(5)]


def test_creating_a_one_time_job_in_the_future_runs_once(alice):
    body = alice.post(
        JOBS,
        {
            "name": "later",
            "handler": "noop",
            "schedule_type": "once",
            "run_at": "2031-05-01T09:30:00+02:00",
        },
    ).json()

    assert body["run_at"] == "2031-05-01T07:30:00Z"
    assert body["upcoming_runs"] == ["2031-05-01T07:30:00Z"]


def test_creating_a_job_that_is_due_queues_its_first_execution(alice):
    response = alice.post(
        JOBS,
        {"name": "now", "handler": "noop", "schedule_type": "once", "run_at": "2020-01-01T00:00Z"},
    )

    assert response.status_code == 201
    job = Job.objects.get(pk=response.json()["id"])
    assert job.executions.get().state == ExecutionState.QUEUED


def test_creating_a_job_fills_in_the_defaults(alice):
    body = alice.post(
        JOBS, {"name": "x", "handler": "noop", "run_at": "2030-01-01T00:00:00Z"}
    ).json()

    assert body["schedule_type"] == "once"
    assert body["queue"] == "default"
    assert body["max_retries"] == 3
    assert body["misfire_policy"] == "run_once"
    assert body["timezone"] == "UTC"
    assert body["timeout_seconds"] is None


def test_the_webhook_secret_is_written_but_never_shown(alice):
    body = alice.post(
        JOBS,
        {
            "name": "x",
            "handler": "noop",
            "run_at": "2030-01-01T00:00:00Z",
            "notify_on": ["failure"],
            "notify_webhook_url": "https://hooks.example.com/x",
            "notify_webhook_secret": "s3cret",
        },
    ).json()

    assert "notify_webhook_secret" not in body
    assert Job.objects.get(pk=body["id"]).notify_webhook_secret == "s3cret"


# --- list -------------------------------------------------------------------------------


def test_the_list_is_paginated_and_newest_first(alice, make_job):
    ids = [str(make_job(name=f"job {i}").pk) for i in range(3)]

    body = alice.get(JOBS, {"page_size": 2}).json()

    assert body["count"] == 3
    assert [job["id"] for job in body["results"]] == ids[::-1][:2]
    assert body["next"].endswith("page=2&page_size=2")
    assert body["previous"] is None
    assert "upcoming_runs" not in body["results"][0]
    second = alice.get(JOBS, {"page_size": 2, "page": 2}).json()
    assert [job["id"] for job in second["results"]] == [ids[0]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "paused"}, ["paused"]),
        ({"state": ["paused", "cancelled"]}, ["cancelled", "paused"]),
        ({"handler": "sleep"}, ["sleeper"]),
        ({"schedule_type": "cron"}, ["cron"]),
        ({"queue": "mail"}, ["mail"]),
        ({"search": "SLEEP"}, ["sleeper"]),  # the handler's name, any case
        ({"search": "cro"}, ["cron"]),  # the job's name
        ({"search": "no such words"}, []),
    ],
)
def test_the_list_filters(alice, make_job, params, expected, settings):
    settings.QUOTA_QUEUES = ["default", "mail"]
    make_job(name="plain")
    job_pause(job=make_job(name="paused"))
    job_cancel(job=make_job(name="cancelled"))
    make_job(name="sleeper", handler="sleep", payload={"seconds": 1})
    make_job(name="cron", schedule_type="cron", interval_seconds=None, cron="@daily")
    make_job(name="mail", queue="mail")

    body = alice.get(JOBS, params).json()

    assert sorted(job["name"] for job in body["results"]) == expected


def test_the_list_filters_by_creation_time(alice, make_job):
    old = make_job(name="old")
    Job.objects.filter(pk=old.pk).update(created_at=datetime(2020, 1, 1, tzinfo=UTC))
    make_job(name="new")

    after = alice.get(JOBS, {"created_after": "2021-01-01T00:00:00Z"}).json()
    before = alice.get(JOBS, {"created_before": "2021-01-01T00:00:00Z"}).json()

    assert [job["name"] for job in after["results"]] == ["new"]
    assert [job["name"] for job in before["results"]] == ["old"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [("name", ["a", "b", "c"]), ("-name", ["c", "b", "a"]), ("-priority", ["b", "c", "a"])],
)
def test_the_list_orders_by_a_field(alice, make_job, ordering, expected):
    make_job(name="b", priority=9)
    make_job(name="a", priority=1)
    make_job(name="c", priority=5)

    body = alice.get(JOBS, {"ordering": ordering}).json()

    assert [job["name"] for job in body["results"]] == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "sleeping"}, "state"),
        ({"schedule_type": "weekly"}, "schedule_type"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"search": "nul\x00byte"}, "search"),
        ({"ordering": ","}, "ordering"),
        ({"ordering": "name,"}, "ordering"),
    ],
)
def test_a_filter_value_that_does_not_parse_is_400(alice, params, field):
    response = alice.get(JOBS, params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


# --- show, replace, update, delete ------------------------------------------------------


def test_a_paused_job_has_no_upcoming_runs(alice, make_job):
    job = job_pause(job=make_job())

    assert alice.get(f"{JOBS}/{job.pk}").json()["upcoming_runs"] == []


def test_a_due_job_lists_its_pending_run_first(alice, make_job):
    job = make_job(schedule_type="cron", interval_seconds=None, cron="*/5 * * * *")
    overdue = timezone.now() - timedelta(minutes=1)
    Job.objects.filter(pk=job.pk).update(next_run_at=overdue)

    runs = times(alice.get(f"{JOBS}/{job.pk}").json()["upcoming_runs"])

    assert runs[0] == overdue
    assert all(run > timezone.now() for run in runs[1:])


def test_patch_changes_only_the_given_fields(alice, make_job, settings):
    settings.QUOTA_QUEUES = ["default", "reports"]
    job = make_job(priority=1, queue="reports")

    response = alice.patch(f"{JOBS}/{job.pk}", {"priority": 7})

    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.priority, job.queue, job.name) == (7, "reports", "hourly")
    assert response.json()["priority"] == 7


def test_patching_the_schedule_recomputes_next_run_at(alice, make_job):
    job = make_job()
    before = job.next_run_at

    body = alice.patch(f"{JOBS}/{job.pk}", {"interval_seconds": 60}).json()

    job.refresh_from_db()
    assert job.next_run_at < before
    assert parse_datetime(body["next_run_at"]) == job.next_run_at
    assert parse_datetime(body["upcoming_runs"][1]) - job.next_run_at == timedelta(seconds=60)


def test_put_needs_the_required_fields(alice, make_job):
    job = make_job()

    response = alice.put(f"{JOBS}/{job.pk}", {"priority": 3})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"name", "handler"}


def test_put_replaces_the_definition(alice, make_job):
    job = make_job()

    response = alice.put(
        f"{JOBS}/{job.pk}",
        {
            "name": "renamed",
            "handler": "sleep",
            "payload": {"seconds": 2},
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
    )

    assert response.status_code == 200
    job.refresh_from_db()
    assert (job.name, job.handler, job.payload) == ("renamed", "sleep", {"seconds": 2})


def test_delete_removes_the_job_and_its_history(alice, make_job, make_execution):
    job = make_job()
    make_execution(job, ExecutionState.SUCCEEDED)

    response = alice.delete(f"{JOBS}/{job.pk}")

    assert response.status_code == 204
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Execution.objects.filter(job_id=job.pk).exists()


def test_a_job_id_that_is_not_a_uuid_is_404(alice):
    response = alice.get(f"{JOBS}/42")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_jobs_need_a_token(anon, make_job):
    job = make_job()

    assert anon.get(JOBS).status_code == 401
    assert anon.post(JOBS, {"name": "x", "handler": "noop"}).status_code == 401
    assert anon.get(f"{JOBS}/{job.pk}").status_code == 401
    assert anon.delete(f"{JOBS}/{job.pk}").status_code == 401
    assert Job.objects.filter(state=JobState.ACTIVE).count() == 1
