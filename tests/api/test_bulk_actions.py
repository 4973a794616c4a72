"""Bulk actions over a filter: POST /api/v1/executions/retry and .../cancel act on every
execution the list's filters match (as far as the caller may change it), each audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution, Job
from jobs.services import bulk
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_letters(make_job, make_execution, settings):
    """Alice's dead executions: 7 in the mail queue, 3 in the default one; one each, per
    occurrence, so each can be retried."""
    settings.QUOTA_QUEUES = ["default", "mail"]
    mail, other = make_job(name="mail", queue="mail"), make_job(name="other")
    start = timezone.now() - timedelta(days=1)
    made = {"mail": [], "default": []}
    for n in range(10):
        job = mail if n < 7 else other
        execution = make_execution(
            job, ExecutionState.DEAD, scheduled_for=start + timedelta(minutes=n), error="boom"
        )
        made[job.queue].append(execution)
    return made


def test_retry_matching_retries_each_dead_letter_of_the_filter_and_audits_each(
    alice, dead_letters, monkeypatch
):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 3)  # several batches
    response = alice.post("/api/v1/executions/retry?state=dead&queue=mail")

    assert response.status_code == 200, response.content
    assert response.json() == {"count": 7}
    mail_ids = [e.pk for e in dead_letters["mail"]]
    retries = Execution.objects.filter(state=ExecutionState.QUEUED, attempt=2)
    assert retries.count() == 7 and {r.queue for r in retries} == {"mail"}
    audited = AuditEvent.objects.filter(action="retry", object_type="execution")
    assert sorted(int(a.object_id) for a in audited) == sorted(mail_ids)
    # Again: what was retried is not retried twice.
    assert alice.post("/api/v1/executions/retry?state=dead&queue=mail").json() == {"count": 0}


def test_cancel_matching_cancels_the_queued_ones_and_passes_over_the_rest(
    alice, dead_letters, make_job, make_execution
):
    job = make_job(name="queued")
    queued = [
        make_execution(job, scheduled_for=timezone.now() + timedelta(hours=n)) for n in range(4)
    ]
    response = alice.post("/api/v1/executions/cancel?queue=default")

    assert response.json() == {"count": 4}  # the 3 dead ones of the queue cannot be
    states = Execution.objects.filter(pk__in=[e.pk for e in queued]).values_list("state", flat=True)
    assert set(states) == {ExecutionState.CANCELLED}
    assert AuditEvent.objects.filter(action="cancel").count() == 4


def test_only_what_the_caller_may_change_is_touched(bob, dead_letters):
    assert bob.post("/api/v1/executions/retry?state=dead").json() == {"count": 0}
    assert not Execution.objects.filter(attempt=2).exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [("", "filters"), ("?ordering=-created_at", "filters"), ("?state=soon", "state")],
)
def test_without_a_filter_or_with_a_bad_one_nothing_changes(alice, dead_letters, query, field):
    response = alice.post(f"/api/v1/executions/retry{query}")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Execution.objects.filter(attempt=2).exists()
    assert not AuditEvent.objects.filter(action="retry").exists()


# --- Jobs: pause, resume and cancel over a filter ---------------------------------------


@pytest.fixture
def reports(make_job):
    """Alice's jobs: five of the `sleep` handler and two of `noop`; one of the scheduler's."""
    nap = {"handler": "sleep", "payload": {"seconds": 1}}
    naps = [make_job(name=f"report {n}", **nap) for n in range(5)]
    noops = [make_job(name=f"ping {n}") for n in range(2)]
    own = make_job(owner=None, name="scheduler's own", **nap)
    return {"sleep": naps, "noop": noops, "own": own}


def states_of(jobs) -> set[str]:
    return set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("state", flat=True))


def test_pause_then_resume_matching_act_on_the_filter_s_jobs_each_audited(
    alice, reports, monkeypatch
):
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)  # several batches
    response = alice.post("/api/v1/jobs/pause?handler=sleep")

    assert response.status_code == 200, response.content
    assert response.json() == {"count": 5}
    assert states_of(reports["sleep"]) == {JobState.PAUSED}
    assert states_of(reports["noop"]) == {JobState.ACTIVE}
    assert states_of([reports["own"]]) == {JobState.ACTIVE}  # not changed through the API
    paused = AuditEvent.objects.filter(action="pause", object_type="job")
    assert sorted(a.object_id for a in paused) == sorted(str(j.pk) for j in reports["sleep"])

    assert alice.post("/api/v1/jobs/pause?handler=sleep").json() == {"count": 0}  # all paused
    assert alice.post("/api/v1/jobs/resume?search=report").json() == {"count": 5}
    assert states_of(reports["sleep"]) == {JobState.ACTIVE}


def test_cancel_matching_cancels_the_filter_s_jobs_and_no_one_else_s(alice, bob, reports):
    assert bob.post("/api/v1/jobs/cancel?handler=noop").json() == {"count": 0}
    assert states_of(reports["noop"]) == {JobState.ACTIVE}

    assert alice.post("/api/v1/jobs/cancel?handler=noop").json() == {"count": 2}
    assert states_of(reports["noop"]) == {JobState.CANCELLED}
    assert states_of(reports["sleep"]) == {JobState.ACTIVE}


@pytest.mark.parametrize(
    ("query", "field"),
    [("", "filters"), ("?ordering=name", "filters"), ("?state=asleep", "state"), ("?x=1", "x")],
)
def test_a_job_bulk_action_without_a_filter_or_with_a_bad_one_changes_nothing(
    alice, reports, query, field
):
    response = alice.post(f"/api/v1/jobs/pause{query}")

    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Job.objects.filter(state=JobState.PAUSED).exists()
    assert not AuditEvent.objects.filter(action="pause").exists()
