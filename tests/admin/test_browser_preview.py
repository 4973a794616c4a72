"""The job form's live schedule preview in a real browser (Playwright, the system's Chromium).

As the operator types a schedule, the runs it would make appear under the schedule fields,
on the job's own clock with their UTC offsets, with a warning where the clocks change; a
schedule that cannot run shows its error there before anything is submitted.
"""

import pytest

from jobs.models import Job
from tests.admin.test_browser import browser, page, pytestmark, screenshot  # noqa: F401

RUNS = "#sched-preview .sched-preview-runs li"


@pytest.mark.django_db(transaction=True)
def test_the_preview_follows_the_fields_as_they_are_typed(page):  # noqa: F811
    page.goto("/admin/jobs/job/add/")
    page.check("input[name=schedule_type][value=cron]")
    page.fill("#id_timezone", "Europe/Berlin")
    page.fill("#id_cron", "0 12 1 * *")
    page.wait_for_function(
        "document.querySelector('.sched-preview-description').textContent.includes('day 1')"
    )
    runs = page.locator(RUNS).all_inner_texts()
    assert len(runs) == 5 and all("12:00:00" in run for run in runs), runs
    assert {run[-7:-1] for run in runs} == {"+01:00", "+02:00"}, runs  # "(UTC+02:00)"
    warning = page.locator(".sched-preview-warning").inner_text()
    assert "The clocks change before the run" in warning
    assert page.locator(".sched-preview-clock-change").count() == 1
    screenshot(page, "schedule-preview.png")

    page.fill("#id_cron", "61 * * * *")
    page.wait_for_selector(".sched-preview-errors li")
    assert page.locator(".sched-preview-errors li").inner_text().startswith("cron: ")
    assert page.locator(RUNS).count() == 0

    page.check("input[name=schedule_type][value=interval]")
    page.fill("#id_interval_seconds", "90")
    page.wait_for_function(
        "document.querySelector('.sched-preview-description').textContent === 'Every 90 seconds'"
    )
    assert page.locator(".sched-preview-errors li").count() == 0
    assert page.locator(RUNS).count() == 5
    assert not Job.objects.exists()  # a preview saves nothing
