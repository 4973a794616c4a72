"""A list action over every row the filters match ("Select all N"): a confirmation page with
the count and a sample first, nothing changed until confirmed; then each row, audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution
from jobs.states import ExecutionState
from tests.admin.conftest import messages_of

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/jobs/execution/"


@pytest.fixture
def dead_letters(make_job, make_execution):
    job = make_job(name="nightly")
    start = timezone.now() - timedelta(days=1)
    return [
        make_execution(job, ExecutionState.DEAD, scheduled_for=start + timedelta(minutes=n))
        for n in range(30)
    ]


def across(action: str, **more) -> dict:
    """The changelist's form after "Select all N": the whole filtered list, one page shown."""
    return {"action": action, "select_across": "1", "index": "0", "_selected_action": ["1"], **more}


def test_retry_across_a_filter_asks_first_then_retries_each(admin_client, dead_letters):
    url = f"{CHANGELIST}?state__exact=dead"
    asked = admin_client.post(url, across("retry"))

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Retry 30 executions?" in page
    assert page.count("<li>") >= 10  # the sample
    assert not Execution.objects.filter(attempt=2).exists()

    done = admin_client.post(url, across("retry", confirmed="yes"), follow=True)
    assert Execution.objects.filter(attempt=2, state=ExecutionState.QUEUED).count() == 30
    assert AuditEvent.objects.filter(action="retry").count() == 30
    assert messages_of(done)[0].startswith("Retried 30:")


def test_a_few_rows_run_at_once(admin_client, dead_letters):
    response = admin_client.post(
        CHANGELIST,
        {"action": "retry", "_selected_action": [str(e.pk) for e in dead_letters[:3]]},
        follow=True,
    )
    assert messages_of(response)[0].startswith("Retried 3:")
