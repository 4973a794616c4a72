"""Bulk actions over a filter: POST /api/v1/executions/retry and .../cancel act on every
execution the list's filters match (as far as the caller may change it), each audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution
from jobs.services import bulk
from jobs.states import ExecutionState

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
