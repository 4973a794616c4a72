"""The job form as a new user meets it, in a real browser (Playwright, the system's Chromium):
the payload starts at {}, the handler select keeps to the page, and choosing a handler shows
its schema and an example, which an untouched payload takes (a typed one is kept)."""

import json

import pytest

from jobs.models import Job
from tests.admin.test_browser import browser, page, pytestmark, screenshot  # noqa: F401


@pytest.mark.django_db(transaction=True)
def test_choosing_a_handler_shows_its_schema_and_starts_the_payload_from_an_example(page):  # noqa: F811
    page.goto("/admin/jobs/job/add/")
    payload = page.locator("#id_payload")
    assert payload.input_value() == "{}"
    assert page.locator(".sched-schema-example-box").is_hidden()

    select = page.locator("#id_handler").bounding_box()
    assert select["x"] + select["width"] <= page.viewport_size["width"]

    page.select_option("#id_handler", "sleep")
    assert page.locator(".sched-schema-name").inner_text() == "sleep"
    assert '"seconds"' in page.locator(".sched-schema-body").inner_text()
    assert json.loads(page.locator(".sched-schema-example").inner_text()) == {"seconds": 0}
    assert json.loads(payload.input_value()) == {"seconds": 0}
    screenshot(page, "job-form-example.png")

    page.select_option("#id_handler", "noop")  # still the example: it follows the handler
    assert json.loads(payload.input_value()) == {}

    payload.fill('{"seconds": 7}')  # typed by hand: kept whatever is chosen next
    page.select_option("#id_handler", "sleep")
    assert json.loads(payload.input_value()) == {"seconds": 7}
    assert not Job.objects.exists()
