"""The execution admin: the attempt history, the dead letters, retry and cancel."""

import pytest
from django.db import connection

from jobs.admin import pagination
from jobs.models import AuditEvent, Execution
from jobs.states import ExecutionState
from tests.admin.conftest import messages_of
from tests.admin.conftest import run_action as shared_run_action

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/jobs/execution/"


def run_action(client, action: str, *executions):
    return shared_run_action(client, LIST_URL, action, *executions)


def test_the_dead_letter_list_is_one_click_from_the_executions(
    admin_client, make_job, make_execution
):
    job = make_job()
    dead = make_execution(job, ExecutionState.DEAD, error="KeyError: 'id'")
    make_execution(job, ExecutionState.SUCCEEDED, attempt=2)

    page = admin_client.get(LIST_URL).content.decode()
    dead_list = admin_client.get(f"{LIST_URL}?state__exact=dead").content.decode()

    assert f'href="{LIST_URL}?state__exact=dead"' in page
    assert dead_list.count('class="sched-badge sched-succeeded"') == 0
    assert f"/admin/jobs/execution/{dead.pk}/change/" in dead_list
    assert "KeyError: &#x27;id&#x27;" in dead_list


def test_error_and_traceback_are_shown_whole_in_monospace(admin_client, make_job, make_execution):
    long_traceback = "Traceback (most recent call last):\n" + "".join(
        f'  File "step{i}.py", line {i}, in run\n' for i in range(300)
    )
    execution = make_execution(
        make_job(),
        ExecutionState.DEAD,
        error="RuntimeError: " + "x" * 500,
        traceback=long_traceback,
    )

    page = admin_client.get(f"/admin/jobs/execution/{execution.pk}/change/").content.decode()

    assert '<pre class="sched-pre sched-traceback">' in page
    assert "File &quot;step299.py&quot;, line 299" in page
    assert "x" * 500 in page
    assert 'name="_save"' not in page  # a record, not a form


@pytest.mark.parametrize("state", [ExecutionState.DEAD, ExecutionState.CANCELLED])
def test_retrying_a_dead_or_cancelled_execution_queues_the_next_attempt(
    admin_client, make_job, make_execution, state
):
    execution = make_execution(make_job(), state, attempt=4)

    response = run_action(admin_client, "retry", execution)

    retry = Execution.objects.get(job=execution.job, attempt=5)
    assert retry.state == ExecutionState.QUEUED
    assert f"Execution {execution.pk} as execution {retry.pk}" in " ".join(messages_of(response))
    assert AuditEvent.objects.filter(action="retry", via="admin session").count() == 1


@pytest.mark.parametrize(
    "state",
    [
        ExecutionState.QUEUED,
        ExecutionState.RUNNING,
        ExecutionState.SUCCEEDED,
        ExecutionState.FAILED,
    ],
)
def test_retrying_an_execution_that_is_not_dead_is_refused(
    admin_client, make_job, make_execution, state
):
    execution = make_execution(make_job(), state)

    response = run_action(admin_client, "retry", execution)

    assert Execution.objects.count() == 1
    assert f"Execution {execution.pk} was not retried" in " ".join(messages_of(response))


def test_cancelling_a_queued_execution_cancels_it(admin_client, make_job, make_execution):
    execution = make_execution(make_job())

    run_action(admin_client, "cancel", execution)

    execution.refresh_from_db()
    assert execution.state == ExecutionState.CANCELLED


def test_cancelling_a_running_execution_asks_it_to_stop(admin_client, make_job, make_execution):
    execution = make_execution(make_job(), ExecutionState.RUNNING)

    run_action(admin_client, "cancel", execution)

    execution.refresh_from_db()
    assert (execution.state, execution.cancel_requested) == (ExecutionState.RUNNING, True)


@pytest.mark.parametrize("state", [ExecutionState.SUCCEEDED, ExecutionState.DEAD])
def test_cancelling_a_finished_execution_is_refused(admin_client, make_job, make_execution, state):
    execution = make_execution(make_job(), state)

    response = run_action(admin_client, "cancel", execution)

    execution.refresh_from_db()
    assert execution.state == state
    assert f"Execution {execution.pk} was not cancelled" in " ".join(messages_of(response))


def test_executions_cannot_be_added_edited_or_deleted(admin_client, make_job, make_execution):
    execution = make_execution(make_job(), ExecutionState.DEAD)
    url = f"/admin/jobs/execution/{execution.pk}"

    assert admin_client.get("/admin/jobs/execution/add/").status_code == 403
    assert admin_client.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"{url}/change/", {"state": "queued", "error": ""}).status_code == 403
    execution.refresh_from_db()
    assert execution.state == ExecutionState.DEAD


def test_the_detail_page_lists_the_other_attempts_of_the_occurrence(
    admin_client, make_job, make_execution
):
    job = make_job()
    first = make_execution(job, ExecutionState.FAILED, error="TimeoutError: slow")
    second = make_execution(job, ExecutionState.DEAD, attempt=2, scheduled_for=first.scheduled_for)

    page = admin_client.get(f"/admin/jobs/execution/{second.pk}/change/").content.decode()

    assert "attempt 1" in page and "TimeoutError: slow" in page
    assert 'value="retry"' in page and 'value="cancel"' not in page


def test_staff_who_may_only_view_cannot_retry(client, make_staff, make_job, make_execution):
    execution = make_execution(make_job(), ExecutionState.DEAD)
    client.force_login(make_staff("view_execution", "view_job"))

    client.post(f"/admin/jobs/execution/{execution.pk}/do/retry/")

    assert Execution.objects.count() == 1


def test_the_unfiltered_list_shows_the_estimate_instead_of_counting_the_history(
    admin_client, make_job, make_execution, monkeypatch
):
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 2)  # instead of 100,000 rows
    job = make_job()
    for attempt in range(1, 5):
        make_execution(job, ExecutionState.SUCCEEDED, attempt=attempt)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_execution")  # the planner now estimates 4 rows
    make_execution(job, ExecutionState.DEAD, attempt=5)
    statements = []

    def capture(execute, sql, *args):
        statements.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(capture):
        page = admin_client.get(LIST_URL)
    filtered = admin_client.get(f"{LIST_URL}?state__exact=dead")

    assert page.context["cl"].result_count == 4  # the estimate: the fifth came after it
    assert not [sql for sql in statements if "COUNT(*)" in sql]
    assert filtered.context["cl"].result_count == 1  # a filtered list is counted


def test_the_queue_filter_offers_the_jobs_queues_without_reading_the_history(
    admin_client, make_job, make_execution, settings
):
    settings.QUOTA_QUEUES = ["default", "mail"]  # alice's jobs use both
    mail = make_execution(make_job(queue="mail"), ExecutionState.SUCCEEDED)
    make_execution(make_job(name="other"), ExecutionState.SUCCEEDED)
    statements = []

    def capture(execute, sql, *args):
        statements.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(capture):
        page = admin_client.get(LIST_URL).content.decode()
    filtered = admin_client.get(f"{LIST_URL}?queue=mail")

    assert 'href="?queue=mail"' in page and 'href="?queue=default"' in page
    assert not [sql for sql in statements if "DISTINCT" in sql and "jobs_execution" in sql]
    assert [e.pk for e in filtered.context["cl"].result_list] == [mail.pk]
