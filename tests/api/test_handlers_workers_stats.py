"""Handlers, workers (staff only) and stats through HTTP."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, Worker
from jobs.services import job_pause
from jobs.states import ExecutionState
from tests.plans import by_parent_index

pytestmark = pytest.mark.django_db


# --- handlers ---------------------------------------------------------------------------


def test_handlers_lists_the_registered_handlers_with_their_schemas(alice):
    body = alice.get("/api/v1/handlers", {"page_size": 100}).json()

    by_name = {h["name"]: h for h in body["results"]}
    assert {"noop", "sleep", "probe"} <= set(by_name)
    assert by_name["sleep"]["schema"]["required"] == ["seconds"]
    assert by_name["sleep"]["description"]
    assert body["count"] == len(body["results"])


def test_internal_handlers_are_listed_for_staff_only(alice, root):
    mine = {h["name"] for h in alice.get("/api/v1/handlers", {"page_size": 100}).json()["results"]}
    staff = root.get("/api/v1/handlers", {"page_size": 100}).json()["results"]

    assert "notification" not in mine
    assert {"name": "notification", "internal": True}.items() <= next(
        h for h in staff if h["name"] == "notification"
    ).items()
    assert alice.get("/api/v1/handlers/notification").status_code == 404


def test_a_handler_is_shown_by_name(alice):
    body = alice.get("/api/v1/handlers/noop").json()

    assert body["name"] == "noop"
    assert body["schema"] == {"type": "object", "additionalProperties": False}
    assert body["internal"] is False


def test_an_unknown_handler_is_404(alice):
    response = alice.get("/api/v1/handlers/no-such-thing")

    assert response.status_code == 404
    assert "no-such-thing" in response.json()["detail"]


# --- workers ----------------------------------------------------------------------------


@pytest.fixture
def workers(make_job, make_execution):
    now = timezone.now()
    alive = Worker.objects.create(name="alive", hostname="a", pid=1, queues=["default"])
    stale = Worker.objects.create(
        name="stale", hostname="b", pid=2, heartbeat_at=now - timedelta(hours=1)
    )
    stopped = Worker.objects.create(name="stopped", hostname="c", pid=3, stopped_at=now)
    job = make_job()
    make_execution(job, ExecutionState.RUNNING, worker=alive)
    make_execution(job, ExecutionState.RUNNING, worker=alive, attempt=2)
    make_execution(job, ExecutionState.SUCCEEDED, worker=alive, attempt=3)
    return alive, stale, stopped


def test_staff_see_the_workers_with_their_status_and_load(root, workers):
    body = root.get("/api/v1/workers").json()

    rows = {w["name"]: w for w in body["results"]}
    assert {name: w["status"] for name, w in rows.items()} == {
        "alive": "alive",
        "stale": "stale",
        "stopped": "stopped",
    }
    assert rows["alive"]["running"] == 2
    assert rows["alive"]["queues"] == ["default"]


@pytest.mark.parametrize("status", ["alive", "stale", "stopped"])
def test_workers_filter_by_status(root, workers, status):
    body = root.get("/api/v1/workers", {"status": status}).json()

    assert [w["name"] for w in body["results"]] == [status]


def test_a_worker_is_shown_by_id(root, workers):
    alive, *_ = workers

    assert root.get(f"/api/v1/workers/{alive.pk}").json()["name"] == "alive"


def test_workers_are_403_for_users_who_are_not_staff(alice, workers):
    alive, *_ = workers

    assert alice.get("/api/v1/workers").status_code == 403
    response = alice.get(f"/api/v1/workers/{alive.pk}")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_workers_are_401_without_a_token(anon):
    assert anon.get("/api/v1/workers").status_code == 401


# --- stats ------------------------------------------------------------------------------


@pytest.fixture
def history(make_job, make_execution, other_user):
    """Alice: 6 succeeded, 2 failed, 1 dead (an hour ago), 1 cancelled, 2 queued, 1 running."""
    now = timezone.now()
    job = make_job()
    for attempt in range(1, 7):
        make_execution(job, ExecutionState.SUCCEEDED, attempt=attempt)
    make_execution(job, ExecutionState.FAILED, attempt=7)
    make_execution(job, ExecutionState.FAILED, attempt=8)
    make_execution(job, ExecutionState.DEAD, attempt=9, finished_at=now - timedelta(hours=2))
    make_execution(job, ExecutionState.CANCELLED, attempt=10)
    make_execution(job, ExecutionState.QUEUED, attempt=11)
    make_execution(job, ExecutionState.QUEUED, attempt=12, run_after=now + timedelta(hours=1))
    make_execution(job, ExecutionState.RUNNING, attempt=13)
    make_job(name="paused")
    bobs = make_job(owner=other_user)
    make_execution(bobs, ExecutionState.DEAD)
    return job


def test_stats_count_by_state_and_over_recent_windows(alice, history):
    job_pause(job=Job.objects.get(name="paused"))

    body = alice.get("/api/v1/stats").json()

    assert body["jobs"] == {
        "active": 1,
        "paused": 1,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "total": 2,
    }
    assert body["executions"] == {"queued": 2, "due": 1, "running": 1, "dead": 1}
    windows = {w["window"]: w for w in body["windows"]}
    five = windows["5m"]
    assert (five["succeeded"], five["failed"], five["dead"], five["cancelled"]) == (6, 2, 0, 1)
    assert five["finished"] == 9
    assert five["throughput_per_minute"] == pytest.approx(9 / 5, abs=1e-3)
    assert five["failure_rate"] == pytest.approx(2 / 8, abs=1e-4)
    day = windows["24h"]
    assert (day["dead"], day["finished"]) == (1, 10)
    assert day["failure_rate"] == pytest.approx(3 / 9, abs=1e-4)


def test_stats_of_staff_cover_everyone(root, history):
    body = root.get("/api/v1/stats").json()

    assert body["jobs"]["total"] == 3
    assert body["executions"]["dead"] == 2


def test_stats_failure_rate_is_null_when_nothing_finished(alice):
    body = alice.get("/api/v1/stats").json()

    assert all(w["failure_rate"] is None for w in body["windows"])
    assert all(w["throughput_per_minute"] == 0 for w in body["windows"])


def test_stats_cost_three_queries_after_authentication(alice, history, django_assert_num_queries):
    alice.get("/api/v1/stats")  # records the token's use, once

    with django_assert_num_queries(4):  # the token, then jobs, executions, windows
        alice.get("/api/v1/stats")


def test_stats_queries_can_be_served_by_indexes(root, history):
    with CaptureQueriesContext(connection) as captured:
        root.get("/api/v1/stats")
    stats_queries = [q["sql"] for q in captured.captured_queries if "jobs_execution" in q["sql"]]

    with connection.cursor() as cursor:
        # A tiny table is scanned whole anyway; forbid that to see what the planner can use.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for sql in stats_queries:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append(by_parent_index("\n".join(row[0] for row in cursor.fetchall()), cursor))

    assert len(plans) == 2
    assert all("Index" in plan for plan in plans), plans
    assert "execution_state_finished_idx" in plans[1]
