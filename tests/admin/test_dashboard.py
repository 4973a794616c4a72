"""The dashboard: its figures match the rows, it refreshes in place, and only staff see it."""

import pytest
from django.utils import timezone

from jobs.models import Worker
from jobs.selectors.series import outcome_series
from jobs.states import ExecutionState

pytestmark = pytest.mark.django_db

URL = "/admin/dashboard/"


@pytest.fixture
def history(make_job, make_execution):
    job = make_job(name="ticker")
    for attempt, state in enumerate(
        [ExecutionState.SUCCEEDED] * 3 + [ExecutionState.FAILED, ExecutionState.DEAD], start=1
    ):
        make_execution(job, state, attempt=attempt, error="" if attempt < 4 else "boom")
    make_execution(make_job(name="waiting"), ExecutionState.QUEUED)
    Worker.objects.create(name="w1", hostname="h", pid=1, queues=["default"], concurrency=4)
    return job


def test_the_dashboard_shows_counts_queues_dead_letters_and_workers(admin_client, history):
    response = admin_client.get(URL)
    page = response.content.decode()

    context = response.context
    assert context["executions"]["queued"] == 1 and context["executions"]["dead"] == 1
    assert context["windows"][0]["succeeded"] == 3
    assert context["windows"][0]["failure_rate"] == pytest.approx(2 / 5)
    assert [q["name"] for q in context["queues"]] == ["default"]
    assert [e.job.name for e in context["dead_letters"]] == ["ticker"]
    assert [w.name for w in context["workers"]] == ["w1"]
    assert page.count('<svg class="sched-chart"') == 2
    assert "<td>40.0 %</td>" in page  # 2 of 5 judged attempts failed
    assert 'src="/static/jobs/dashboard.js"' in page


def test_the_panels_come_alone_for_the_refresh(admin_client, history):
    page = admin_client.get(URL, {"panels": "1"}).content.decode()

    assert page.lstrip().startswith('<div class="sched-grid"')
    assert "<html" not in page


def test_the_charts_count_outcomes_per_bucket(history):
    from datetime import timedelta

    from django.db.models.functions import TruncMinute

    buckets = outcome_series(
        now=timezone.now(), span=timedelta(hours=1), bucket=timedelta(minutes=5), trunc=TruncMinute
    )

    assert len(buckets) == 12
    assert (buckets[-1].succeeded, buckets[-1].failed) == (3, 2)
    assert sum(b.total for b in buckets[:-1]) == 0


def test_the_dashboard_is_linked_from_the_admin_index(admin_client):
    assert f'href="{URL}"' in admin_client.get("/admin/").content.decode()


def test_the_dashboard_takes_a_bounded_number_of_queries(
    admin_client, history, make_job, make_execution, django_assert_max_num_queries
):
    for i in range(20):
        make_execution(make_job(name=f"j{i}"), ExecutionState.DEAD, error="x")

    with django_assert_max_num_queries(16):
        assert admin_client.get(URL).status_code == 200


def test_people_who_are_not_staff_are_sent_to_log_in(client, user):
    client.force_login(user)

    response = client.get(URL)

    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_workers_are_listed_only_to_staff_who_may_view_them(client, make_staff, history):
    client.force_login(make_staff("view_job", "view_execution"))

    response = client.get(URL)

    assert response.status_code == 200
    assert response.context["workers"] == []
    assert "You may not view workers." in response.content.decode()


def test_staff_without_permission_to_view_executions_are_refused(client, make_staff):
    client.force_login(make_staff("view_job"))

    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_the_queue_panel_shows_running_against_the_limit_and_the_pause(admin_client, make_job):
    from jobs.models import Queue
    from jobs.services.queues import queue_pause

    make_job(owner=None, queue="mail", interval_seconds=60)
    make_job(
        owner=None, queue="mail", schedule_type="once", run_at=timezone.now(), interval_seconds=None
    )
    Queue.objects.filter(name="mail").update(concurrency_limit=4, rate_limit=20)
    queue_pause(name="mail")
    page = admin_client.get("/admin/dashboard/").content.decode()
    row = page[page.index(">mail</a>") :].split("</tr>")[0]
    assert "Paused" in row and "0 / 4, 20 per 1 s" in row
