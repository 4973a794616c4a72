"""A job's page shows its newest runs: a strip of outcome cells (oldest left, each linking to
its execution), a duration chart, and the queue and workflow it belongs to; it follows a
scheduled job live, and hides the runs from those who may not see its history."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.selectors.job_runs import RECENT_RUNS
from jobs.services import job_cancel
from jobs.services.workflows import workflow_create
from jobs.states import ExecutionState

pytestmark = pytest.mark.django_db

S = ExecutionState


def page_of(client, job) -> str:
    response = client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def field(page: str, name: str) -> str:
    start = page.index(f"field-{name}")
    return page[start : page.index('<div class="form-row', start + 1)]


def make_runs(make_execution, job, states, *, seconds=lambda i: i + 1):
    """One finished attempt per state, a minute apart, the i-th lasting seconds(i)."""
    start = timezone.now() - timedelta(hours=2)
    made = []
    for i, state in enumerate(states):
        at = start + timedelta(minutes=i)
        made.append(
            make_execution(
                job,
                state,
                scheduled_for=at,
                started_at=at,
                finished_at=None if state == S.RUNNING else at + timedelta(seconds=seconds(i)),
            )
        )
    return made


def test_the_strip_shows_each_run_oldest_first_linked_to_its_execution(
    admin_client, make_job, make_execution
):
    job = make_job()
    states = [S.SUCCEEDED, S.FAILED, S.DEAD, S.SUCCEEDED, S.CANCELLED, S.RUNNING]
    runs = make_runs(make_execution, job, states)
    make_execution(job, S.QUEUED)  # not run yet: not an outcome

    strip = field(page_of(admin_client, job), "runs_strip")

    cells = re.findall(
        r'<a href="/admin/jobs/execution/(\d+)/change/" class="sched-cell sched-(\w+)"', strip
    )
    assert cells == [(str(run.pk), state) for run, state in zip(runs, states, strict=True)]
    assert f"#{runs[1].pk} attempt 1: failed" in strip


def test_the_strip_keeps_the_newest_fifty(admin_client, make_job, make_execution):
    job = make_job()
    runs = make_runs(make_execution, job, [S.SUCCEEDED] * (RECENT_RUNS + 5))

    strip = field(page_of(admin_client, job), "runs_strip")

    shown = re.findall(r"/admin/jobs/execution/(\d+)/change/", strip)
    assert shown == [str(run.pk) for run in runs[5:]]


def test_the_chart_draws_each_finished_run_by_its_duration(admin_client, make_job, make_execution):
    job = make_job()
    make_runs(
        make_execution,
        job,
        [S.SUCCEEDED, S.FAILED, S.SUCCEEDED, S.RUNNING],
        seconds=lambda i: [2, 8, 4, 0][i],
    )

    chart = field(page_of(admin_client, job), "durations")

    dots = re.findall(
        r'<circle cx="([\d.]+)" cy="([\d.]+)" r="3.5" class="sched-dot sched-dot-(\w+)"', chart
    )
    assert [state for _, _, state in dots] == ["succeeded", "failed", "succeeded"]  # not running
    xs = [float(x) for x, _, _ in dots]
    ys = [float(y) for _, y, _ in dots]
    assert xs == sorted(xs) and len(set(xs)) == 3  # later runs further right
    assert ys[1] < ys[2] < ys[0]  # 8 s the highest, then 4 s, then 2 s
    assert "8.00 s" in chart  # the axis names the longest


def test_a_job_without_runs_says_so(admin_client, make_job):
    page = page_of(admin_client, make_job())
    assert "None yet." in field(page, "runs_strip")
    assert "No finished runs yet." in field(page, "durations")


def test_the_page_links_the_queue_and_the_workflow(admin_client, make_job, user):
    alone = make_job(owner=None, queue="mail")
    assert '<a href="/admin/jobs/queue/mail/change/">mail</a>' in field(
        page_of(admin_client, alone), "belongs_to"
    )

    workflow = workflow_create(
        owner=user, name="nightly", steps=[{"name": "extract", "handler": "noop"}]
    )
    step_job = workflow.steps.get().job
    belongs = field(page_of(admin_client, step_job), "belongs_to")
    assert (
        f'<a href="/admin/jobs/workflow/{workflow.pk}/change/">nightly</a>, step extract' in belongs
    )


def test_a_scheduled_jobs_page_follows_it_and_a_cancelled_ones_does_not(admin_client, make_job):
    job = make_job()
    live = field(page_of(admin_client, job), "upcoming")
    assert 'data-sched-live="state_badge next_run_at last_run_at upcoming runs_strip' in live
    assert "jobs/live_fields.js" in page_of(admin_client, job)

    job_cancel(job=job)
    assert "data-sched-live" not in page_of(admin_client, job)


def test_someone_who_may_not_see_the_history_sees_no_runs(
    client, make_staff, make_job, make_execution
):
    job = make_job()
    make_runs(make_execution, job, [S.FAILED])
    operator = make_staff("view_job")
    client.force_login(operator)

    page = page_of(client, job)

    assert "field-upcoming" in page
    for name in ("runs_strip", "durations", "recent_executions"):
        assert f"field-{name}" not in page


def test_the_chart_orders_runs_by_their_start_when_it_differs_from_their_schedule(
    admin_client, make_job, make_execution
):
    # A backfilled occurrence scheduled long ago but run last: drawn last, inside the plot.
    job = make_job()
    now = timezone.now()
    for scheduled, started in ((30, 20), (60 * 24, 5), (20, 10)):  # minutes ago
        at = now - timedelta(minutes=started)
        make_execution(
            job,
            S.SUCCEEDED,
            scheduled_for=now - timedelta(minutes=scheduled),
            started_at=at,
            finished_at=at + timedelta(seconds=2),
        )

    chart = field(page_of(admin_client, job), "durations")

    xs = [float(x) for x in re.findall(r'<circle cx="([\d.]+)"', chart)]
    assert xs == sorted(xs) and min(xs) >= 40 and max(xs) <= 560
    first, last = (now - timedelta(minutes=20)), (now - timedelta(minutes=5))
    assert f"{first:%Y-%m-%d %H:%M:%S} UTC" in chart and f"{last:%Y-%m-%d %H:%M:%S} UTC" in chart


def test_the_strip_and_the_chart_read_the_runs_once(admin_client, make_job, make_execution):
    job = make_job()
    make_runs(make_execution, job, [S.SUCCEEDED, S.FAILED])
    with CaptureQueriesContext(connection) as queries:
        page = page_of(admin_client, job)
    reads = [q["sql"] for q in queries if f"LIMIT {RECENT_RUNS}" in q["sql"]]
    assert len(reads) == 1, reads
    assert page.count("sched-cell sched-") == 2 and page.count("<circle") == 2
