"""The admin in a real browser: Playwright drives the system's Chromium against a live server.

One operator's session, start to end: log in, create a cron job through the form (a bad
cron expression first, refused), run it now and watch a real worker's execution appear,
retry a dead execution, and open the dashboard with its charts. Screenshots of the dashboard
and the job list land in test-artifacts/ (git-ignored; the README shows them).

Needs Chromium (`make test` installs Debian's `chromium` when it can); without one these
tests are skipped with the reason printed.
"""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from jobs.models import Execution, Job
from jobs.states import ExecutionState
from tests.conftest import ROOT, wait_for

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
# As the machine's notes advise: no background traffic to hosts a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are still synchronous, so Django is told they are safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser, live_server, staff_user):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", staff_user.username)
    page.fill("#id_password", "pw-root-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.django_db(transaction=True)
def test_an_operator_creates_a_cron_job_and_runs_it_now(page, start_worker):
    page.goto("/admin/jobs/job/add/")
    page.fill("#id_name", "nightly report")
    page.select_option("#id_handler", "noop")
    page.check("input[name=schedule_type][value=cron]")
    page.fill("#id_cron", "61 * * * *")
    page.fill("#id_timezone", "Europe/Berlin")
    page.click("input[name=_continue]")

    error = page.locator(".field-cron .errorlist")
    assert "61" in error.inner_text() or "cron" in error.inner_text().lower()
    assert not Job.objects.exists()

    page.fill("#id_cron", "30 2 * * *")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    job = Job.objects.get()
    assert job.cron == "30 2 * * *"
    assert "At 02:30, every day (Europe/Berlin)" in page.inner_text(".field-schedule_text")

    worker = start_worker("--concurrency", "1", "--poll-interval", "0.2")
    page.click("button[value=run_now]")
    page.wait_for_selector(".messagelist .success")

    def execution_shows_succeeded():
        page.reload()
        return "succeeded" in page.inner_text(".field-recent_executions")

    wait_for(execution_shows_succeeded, timeout=30, interval=0.5, message="the run to appear")
    assert Execution.objects.get(job=job).state == ExecutionState.SUCCEEDED
    worker.signal(15)
    assert worker.wait(timeout=30) == 0

    page.goto("/admin/jobs/job/")
    assert "nightly report" in page.inner_text("#result_list")
    screenshot(page, "job-list.png")


@pytest.mark.django_db(transaction=True)
def test_an_operator_retries_a_dead_execution(page, staff_user, make_job, make_execution):
    job = make_job(owner=staff_user, name="flaky export")
    dead = make_execution(
        job,
        ExecutionState.DEAD,
        attempt=4,
        error="ConnectionError: the export server refused",
        traceback='Traceback (most recent call last):\n  File "export.py", line 3\n',
    )

    page.goto("/admin/jobs/execution/")
    page.click("text=Dead letters")
    # The filter is a navigation: wait for its page, not the one it left.
    expect(page.locator("#result_list")).to_contain_text("flaky export")
    page.click(f"#result_list a[href*='/execution/{dead.pk}/change/']")
    assert "the export server refused" in page.inner_text(".field-error_display pre")
    page.click("button[value=retry]")
    page.wait_for_selector(".messagelist .success")

    retry = Execution.objects.get(job=job, attempt=5)
    assert retry.state == ExecutionState.QUEUED
    assert f"as execution {retry.pk}" in page.inner_text(".messagelist")


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_renders_its_charts(page, staff_user, make_job, make_execution):
    job = make_job(owner=staff_user, name="ticker")
    for attempt, state in enumerate([ExecutionState.SUCCEEDED] * 5 + [ExecutionState.DEAD], 1):
        make_execution(job, state, attempt=attempt, error="boom" if attempt == 6 else "")

    page.goto("/admin/")
    page.click("text=Open the dashboard")
    chart = page.locator("svg.sched-chart").first
    chart.wait_for()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 50
    assert page.locator("svg.sched-chart rect.sched-bar-ok").count() > 0
    assert "ticker" in page.inner_text("#sched-panels")  # the dead letter is listed
    path = screenshot(page, "dashboard.png")
    assert path.stat().st_size > 10_000
