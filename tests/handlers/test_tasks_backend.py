"""Django's Tasks framework on the scheduler: enqueue in a transaction, run on runworker."""

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from jobs.exceptions import ValidationError
from jobs.models import Execution, Job
from jobs.services import job_create
from jobs.states import ExecutionState
from jobs.tasks_backend import TASK_HANDLER, TaskRefused, TaskResultDoesNotExist, resolve_task

try:
    from django.tasks import TaskResultStatus, default_task_backend, task
except ImportError:
    from django_tasks import TaskResultStatus, default_task_backend, task

HERE = Path(__file__).resolve().parent
CALLS = []


@task
def add(a, b):
    CALLS.append((a, b))
    return a + b


@task
def explode(message):
    raise ValueError(message)


@task(takes_context=True)
def describe(context, tag):
    return {"attempt": context.attempt, "tag": tag, "id": context.task_result.id}


@task
async def double(x):
    return x * 2


@task(queue_name="mail", priority=7)
def on_mail_queue():
    return "sent"


def not_a_task():
    CALLS.append("not a task")


@pytest.fixture(autouse=True)
def no_calls_yet():
    CALLS.clear()


def run_worker():
    call_command("runworker", burst=True)


@pytest.mark.django_db(transaction=True)
def test_task_enqueued_in_a_transaction_that_rolls_back_never_runs():
    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        result = add.enqueue(1, 2)
        assert result.status == TaskResultStatus.READY
        raise Rollback

    run_worker()

    assert CALLS == []
    assert not Job.objects.exists()
    with pytest.raises(TaskResultDoesNotExist):
        add.get_result(result.id)


@pytest.mark.django_db(transaction=True)
def test_task_that_commits_runs_once_on_runworker_and_its_result_is_readable():
    with transaction.atomic():
        result = add.enqueue(2, 3)

    run_worker()
    run_worker()  # nothing is left to run a second time

    assert CALLS == [(2, 3)]
    fetched = add.get_result(result.id)
    assert fetched.status == TaskResultStatus.SUCCESSFUL
    assert fetched.return_value == 5
    assert fetched.args == [2, 3]
    assert fetched.attempts == 1
    assert fetched.worker_ids and fetched.worker_ids[0]
    assert fetched.enqueued_at <= fetched.started_at <= fetched.finished_at
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert default_task_backend.get_result(result.id).return_value == 5


@pytest.mark.django_db(transaction=True)
def test_failing_task_is_failed_once_with_its_exception_readable():
    result = explode.enqueue("boom")

    run_worker()

    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "boom" in error.traceback
    # Tasks are not retried unless TASKS OPTIONS max_retries says so.
    assert Execution.objects.filter(job_id=result.id).count() == 1
    with pytest.raises(ValueError, match="failed"):
        result.return_value  # noqa: B018


@pytest.mark.django_db(transaction=True)
def test_context_and_async_tasks_run():
    described = describe.enqueue("x")
    doubled = double.enqueue(21)

    run_worker()

    described.refresh()
    assert described.return_value == {"attempt": 1, "tag": "x", "id": described.id}
    doubled.refresh()
    assert doubled.return_value == 42


@pytest.mark.django_db(transaction=True)
def test_deferred_task_waits_for_its_time():
    later = timezone.now() + timedelta(hours=1)
    result = add.using(run_after=later).enqueue(1, 1)

    run_worker()

    result.refresh()
    assert result.status == TaskResultStatus.READY
    assert CALLS == []
    assert Job.objects.get(pk=result.id).run_at == later


@pytest.mark.django_db
def test_queue_and_priority_of_a_task_become_the_jobs():
    result = on_mail_queue.enqueue()

    job = Job.objects.get(pk=result.id)
    assert (job.handler, job.queue, job.priority, job.owner) == (TASK_HANDLER, "mail", 7, None)
    assert job.payload == {
        "task": on_mail_queue.module_path,
        "args": [],
        "kwargs": {},
        "backend": "default",
    }
    assert result.task.queue_name == "mail"


@pytest.mark.django_db
def test_arguments_that_are_not_json_are_refused_at_enqueue():
    with pytest.raises(TypeError, match="JSON"):
        add.enqueue(object(), 1)
    assert not Job.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["os.system", "subprocess.run", f"{__name__}.not_a_task", "tabnanny.check", "nowhere"],
)
def test_only_task_functions_can_be_named_and_nothing_is_imported_from_the_payload(path):
    assert "tabnanny" not in sys.modules
    with pytest.raises(ValidationError) as refused:
        job_create(
            name="t",
            handler=TASK_HANDLER,
            payload={"task": path, "args": ["true"]},
            schedule_type="once",
            run_at=timezone.now(),
        )
    assert "not a @task function" in refused.value.errors["payload"][0]
    assert resolve_task(path) is None
    assert "tabnanny" not in sys.modules
    assert CALLS == []


def test_a_users_job_cannot_name_the_task_handler(user):
    with pytest.raises(ValidationError, match="used by the scheduler only"):
        job_create(
            owner=user,
            name="sneaky",
            handler=TASK_HANDLER,
            payload={"task": add.module_path, "args": [1, 2]},
            schedule_type="once",
            run_at=timezone.now(),
        )
    assert CALLS == []


def test_a_users_job_that_got_past_validation_still_cannot_run_a_task(run_handler, user):
    # Made by the system, then handed to a user: the handler itself refuses too.
    with pytest.raises(TaskRefused):
        run_handler(TASK_HANDLER, {"task": add.module_path, "args": [1, 2]}, owner=user)
    assert CALLS == []


@pytest.mark.django_db
@pytest.mark.parametrize("result_id", ["not-a-uuid", "5f0c6a53-0d7e-4b9e-9a51-3f3e1d2c7b88"])
def test_an_unknown_result_id_does_not_exist(result_id):
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(result_id)


@pytest.mark.django_db
def test_a_job_of_another_handler_is_not_a_task_result():
    job = job_create(
        name="n", handler="noop", payload={}, schedule_type="once", run_at=timezone.now()
    )
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(str(job.pk))


@pytest.mark.django_db
def test_a_queued_task_reads_as_ready_and_a_running_one_as_running():
    result = add.enqueue(1, 2)
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.READY
    Execution.objects.filter(job_id=result.id).update(
        state=ExecutionState.RUNNING, started_at=timezone.now()
    )
    assert default_task_backend.get_result(result.id).status == TaskResultStatus.RUNNING


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_finds_tasks_listed_in_scheduler_task_modules(start_worker):
    # The worker is a separate `manage.py runworker`: it imports the module named in the
    # setting, never the path stored in the payload.
    from tests.handlers.sample_tasks import multiply

    with transaction.atomic():
        result = multiply.enqueue(6, 7)

    worker = start_worker(
        "--burst",
        env={"SCHEDULER_TASK_MODULES": "tests.handlers.sample_tasks"},
    )
    assert worker.wait(60) == 0, worker.output()

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value == 42
