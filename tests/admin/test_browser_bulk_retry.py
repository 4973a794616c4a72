"""A bulk retry of 2,000 dead letters matched by a filter, through the admin in a real browser
(Playwright, the system's Chromium): "Select all 2000", the action, a confirmation page with
the count and a sample, then every one retried and audited."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import AuditEvent, Execution
from jobs.states import ExecutionState
from tests.admin.test_browser import browser, page, pytestmark, screenshot  # noqa: F401

COUNT = 2000


@pytest.mark.django_db(transaction=True)
def test_an_operator_retries_every_dead_letter_of_a_filter(page):  # noqa: F811
    job = services.job_create(
        owner=None, name="nightly", handler="noop", schedule_type="interval", interval_seconds=60
    )
    start, now = timezone.now() - timedelta(days=2), timezone.now()
    Execution.objects.bulk_create(
        Execution(
            job=job,
            scheduled_for=start + timedelta(minutes=n),
            attempt=1,
            state=ExecutionState.DEAD,
            queue=job.queue,
            run_after=now,
            started_at=now,
            finished_at=now,
            error="boom",
        )
        for n in range(COUNT)
    )
    page.goto("/admin/jobs/execution/?state__exact=dead")
    page.click("#action-toggle")
    page.click(".actions .question a")  # "Select all 2000 executions"
    page.select_option("select[name=action]", "retry")
    page.click("button[name=index]")

    assert page.inner_text(".sched-confirm-count") == str(COUNT)
    assert page.locator(".sched-confirm-sample li").count() == 10
    assert not Execution.objects.filter(attempt=2).exists()
    screenshot(page, "bulk-retry-confirm.png")

    page.click("input[type=submit][value^=Yes]", timeout=180_000)
    page.wait_for_selector(".messagelist .success", timeout=180_000)
    assert f"Retried {COUNT}:" in page.inner_text(".messagelist")
    assert Execution.objects.filter(attempt=2, state=ExecutionState.QUEUED).count() == COUNT
    assert AuditEvent.objects.filter(action="retry", object_type="execution").count() == COUNT
