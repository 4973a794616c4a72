"""An execution's page follows its run (Playwright, the system's Chromium): the progress and
log of a running `sleep` move on without a reload, and the page settles when it ends."""

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Execution
from jobs.states import ExecutionState
from tests.admin.test_browser import browser, page, pytestmark, screenshot  # noqa: F401
from tests.conftest import wait_for


@pytest.mark.django_db(transaction=True)
def test_a_running_sleeps_progress_and_log_move_on_without_a_reload(page, start_worker):  # noqa: F811
    job = services.job_create(
        owner=None,
        name="nap",
        handler="sleep",
        payload={"seconds": 6},
        schedule_type="once",
        run_at=timezone.now(),
    )
    start_worker("--concurrency", "1")
    execution = wait_for(
        lambda: Execution.objects.filter(job=job, state=ExecutionState.RUNNING).first(),
        message="the run to start",
    )
    page.goto(f"/admin/jobs/execution/{execution.pk}/change/")
    page.evaluate("window.notReloaded = true")  # gone if the page itself reloads

    def progress() -> int:
        value = page.locator(".field-progress_display progress").get_attribute("value")
        return int(value) if value else 0

    page.wait_for_function(
        "document.querySelector('.field-progress_display progress')"
        " && +document.querySelector('.field-progress_display progress').value >= 50"
    )
    assert 0 < progress() < 100
    assert "INFO Sleeping 6 s" in page.inner_text(".field-log_display")
    screenshot(page, "execution-live.png")

    page.wait_for_function(
        "document.querySelector('.field-state_badge').innerText.includes('Succeeded')",
        timeout=20_000,
    )
    assert progress() == 100
    assert "slept 6 of 6 s" in page.inner_text(".field-progress_display")
    assert page.evaluate("window.notReloaded") is True
