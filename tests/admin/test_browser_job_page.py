"""A job's page after a mix of outcomes run by a real worker (Playwright, the system's
Chromium): the strip shows each run's outcome in order, the chart each duration, and a run
that ends while the page is open joins both without a reload."""

import pytest

from jobs import services
from jobs.models import Execution
from jobs.states import ExecutionState
from tests.admin.test_browser import ARTIFACTS, browser, page, pytestmark  # noqa: F401
from tests.conftest import wait_for

S = ExecutionState


def run(job, times: int, **payload) -> None:
    """Set the probe's payload, queue `times` runs now, and wait until all have ended."""
    services.job_update(job=job, payload=payload)
    before = Execution.objects.filter(job=job).count()
    for _ in range(times):
        services.job_trigger(job=job)
    wait_for(
        lambda: (
            not Execution.objects.filter(job=job, state__in=(S.QUEUED, S.RUNNING)).exists()
            and Execution.objects.filter(job=job).count() >= before + times
        ),
        message=f"{times} run(s) of {payload}",
    )


def cells(page) -> list[str]:  # noqa: F811
    return page.eval_on_selector_all(
        ".field-runs_strip .sched-cell",
        "cells => cells.map(c => c.className.replace('sched-cell sched-', ''))",
    )


@pytest.mark.django_db(transaction=True)
def test_the_strip_and_chart_follow_a_mix_of_outcomes(page, start_worker):  # noqa: F811
    job = services.job_create(
        owner=None,
        name="import orders",
        handler="probe",
        payload={"mode": "succeed"},
        schedule_type="interval",
        interval_seconds=3600,
        max_retries=1,
        retry_backoff_seconds=1,
    )
    start_worker("--concurrency", "1")
    run(job, 3, mode="sleep", seconds=0.2)
    run(job, 1, mode="fail")  # a failed attempt, then its retry dead
    run(job, 2, mode="sleep", seconds=0.8)

    page.goto(f"/admin/jobs/job/{job.pk}/change/")
    page.evaluate("window.notReloaded = true")  # gone if the page itself reloads

    shown = cells(page)
    assert shown[:3] == ["succeeded"] * 3
    assert sorted(shown[3:5]) == ["dead", "failed"]
    assert shown[5:] == ["succeeded"] * 2
    dots = page.locator(".field-durations circle.sched-dot")
    assert dots.count() == 7
    heights = [float(dots.nth(i).get_attribute("cy")) for i in range(7)]
    assert min(heights[5:]) < max(heights[:3])  # the 0.8 s runs drawn above the 0.2 s ones
    state = page.locator("fieldset", has=page.locator(".field-runs_strip"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    state.screenshot(path=str(ARTIFACTS / "job-page.png"))

    run(job, 1, mode="fail")
    page.wait_for_function(
        "document.querySelectorAll('.field-runs_strip .sched-cell').length === 9", timeout=20_000
    )
    assert sorted(cells(page)[7:]) == ["dead", "failed"]
    assert page.locator(".field-durations circle.sched-dot").count() == 9
    assert page.evaluate("window.notReloaded") is True
