"""The report handler: figures checked against rows the test made."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from jobs.exceptions import ValidationError
from jobs.models import Execution, Job
from jobs.services import job_create
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db


def make_job(owner, handler="noop", payload=None, name=None, state=JobState.ACTIVE):
    job = job_create(
        owner=owner,
        name=name or f"{handler} job",
        handler=handler,
        payload=payload or ({"seconds": 1} if handler == "sleep" else {}),
        schedule_type="once",
        run_at=timezone.now() + timedelta(days=30),
    )
    Job.objects.filter(pk=job.pk).update(state=state)
    return job


def make_execution(job, state, *, seconds=None, hours_ago=1, attempt=1):
    created = timezone.now() - timedelta(hours=hours_ago)
    started = created if seconds is not None else None
    finished = None
    if state not in (ExecutionState.QUEUED, ExecutionState.RUNNING):
        finished = created + timedelta(seconds=seconds or 0)
    return Execution.objects.create(
        job=job,
        scheduled_for=created,
        attempt=attempt,
        state=state,
        created_at=created,
        started_at=started if state != ExecutionState.QUEUED else None,
        finished_at=finished,
    )


@pytest.fixture
def history(user, other_user):
    """alice: 2 noop jobs, 1 sleep job, with 7 attempts this week and 1 older; bob: noise."""
    noop_a = make_job(user, "noop", name="=SUM(A1)")  # a formula, to prove CSV escaping
    noop_b = make_job(user, "noop", state=JobState.COMPLETED)
    sleeper = make_job(user, "sleep", state=JobState.PAUSED)
    make_execution(noop_a, ExecutionState.SUCCEEDED, seconds=2)
    make_execution(noop_a, ExecutionState.FAILED, seconds=4, attempt=1, hours_ago=2)
    make_execution(noop_a, ExecutionState.DEAD, seconds=1, attempt=2, hours_ago=1)
    make_execution(noop_b, ExecutionState.SUCCEEDED, seconds=3)
    make_execution(noop_b, ExecutionState.CANCELLED)
    make_execution(sleeper, ExecutionState.SUCCEEDED, seconds=30)
    make_execution(sleeper, ExecutionState.QUEUED)
    make_execution(sleeper, ExecutionState.SUCCEEDED, seconds=99, hours_ago=24 * 10)  # too old
    bobs = make_job(other_user, "noop")
    make_execution(bobs, ExecutionState.FAILED, seconds=500)
    return {"noop_a": noop_a, "noop_b": noop_b, "sleeper": sleeper}


def test_report_counts_the_owners_jobs_and_attempts_by_state_and_handler(
    run_handler, user, history
):
    result = run_handler("report", {"days": 7}, owner=user)

    assert result["scope"] == f"owner:{user.pk}"
    # The report's own job is alice's too, active.
    assert result["jobs"]["by_state"] == {
        "active": 2,
        "paused": 1,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
    }
    executions = result["executions"]
    assert executions["total"] == 7
    assert executions["by_state"] == {
        "queued": 1,
        "running": 0,
        "succeeded": 3,
        "failed": 1,
        "dead": 1,
        "cancelled": 1,
    }
    # Two of five attempts that ran to an end failed.
    assert executions["failure_rate"] == 0.4
    by_handler = {row["handler"]: row for row in executions["by_handler"]}
    assert set(by_handler) == {"noop", "sleep"}
    assert by_handler["noop"]["total"] == 5
    assert by_handler["noop"]["failure_rate"] == 0.5
    assert by_handler["noop"]["max_seconds"] == 4.0
    assert by_handler["noop"]["avg_seconds"] == 2.5
    assert by_handler["sleep"]["total"] == 2
    assert by_handler["sleep"]["failure_rate"] == 0.0


def test_slowest_runs_are_listed_longest_first_within_the_period(run_handler, user, history):
    result = run_handler("report", {"days": 7, "top": 3}, owner=user)

    slowest = result["executions"]["slowest"]
    assert [row["duration_seconds"] for row in slowest] == [30.0, 4.0, 3.0]
    assert slowest[0]["job_id"] == str(history["sleeper"].pk)
    assert slowest[0]["handler"] == "sleep"


def test_report_tables_are_csv_with_formulas_escaped(run_handler, user, history):
    result = run_handler("report", {"days": 7}, owner=user)

    rows = list(csv.DictReader(io.StringIO(result["csv"]["by_handler"])))
    assert [(r["handler"], r["total"], r["failed"], r["dead"]) for r in rows] == [
        ("noop", "5", "1", "1"),
        ("sleep", "2", "0", "0"),
    ]
    slowest = list(csv.DictReader(io.StringIO(result["csv"]["slowest"])))
    names = {row["job_name"] for row in slowest}
    assert "'=SUM(A1)" in names
    assert "=SUM(A1)" not in names


def test_report_period_can_be_given_as_since_and_until(run_handler, user, history):
    now = timezone.now()
    result = run_handler(
        "report",
        {
            "since": (now - timedelta(days=11)).isoformat(),
            "until": (now - timedelta(days=9)).isoformat(),
        },
        owner=user,
    )

    assert result["executions"]["total"] == 1
    assert result["executions"]["slowest"][0]["duration_seconds"] == 99.0


def test_report_of_a_job_without_owner_covers_every_job(run_handler, history):
    result = run_handler("report", {"days": 7})

    assert result["scope"] == "all"
    assert result["executions"]["total"] == 8
    assert result["executions"]["slowest"][0]["duration_seconds"] == 500.0


def test_report_is_emailed_with_the_csv_and_json_attached(run_handler, user, history):
    user.email = "alice@example.com"
    user.save()

    result = run_handler(
        "report", {"days": 7, "email_to": ["boss@example.com"], "email_owner": True}, owner=user
    )

    [message] = mail.outbox
    assert message.to == ["boss@example.com", "alice@example.com"]
    assert message.subject.startswith("Scheduler report")
    assert "Failure rate: 40.0%" in message.body
    attached = {name: content for name, content, _mimetype in message.attachments}
    assert set(attached) == {"by_handler.csv", "slowest.csv", "report.json"}
    assert attached["by_handler.csv"] == result["csv"]["by_handler"]
    assert json.loads(attached["report.json"])["executions"]["total"] == 7
    assert result["emailed"]["recipients"] == 2


@pytest.mark.parametrize(
    "payload",
    [
        {"days": 7, "since": "2024-01-01T00:00:00Z"},
        {"since": "yesterday"},
        {"days": 0},
        {"email_to": ["nobody"]},
        {"top": 1000},
    ],
)
def test_a_bad_report_payload_is_refused_when_the_job_is_created(payload, user):
    with pytest.raises(ValidationError):
        make_job(user, "report", payload=payload)
