"""A backend for Django's Tasks framework that runs tasks as scheduler jobs.

    TASKS = {"default": {"BACKEND": "jobs.tasks_backend.SchedulerBackend"}}

`my_task.enqueue(...)` writes a one-time job of the internal `django_task` handler in the
caller's transaction (so a rollback leaves nothing to run; with a scheduler database of its
own, SCHEDULER_DATABASE_URL, it commits there at once), `runworker` runs it, and
`my_task.get_result(result.id)` / `result.refresh()` read its state, return value and errors
back from the job's executions. The result id is the job's id.

A worker runs only functions decorated with `@task`: the payload names the task's path,
and that path is looked up among modules that are already imported or that the operator
named (each installed app's `tasks` module, and `SCHEDULER_TASK_MODULES`), never imported
from the payload. And only jobs without an owner run it: a user's job, made through the
API, cannot call application functions.

On Django 6 this is `django.tasks`; on Django 5.2 the `django-tasks` backport.
"""

import builtins
import dataclasses
import json
import re
import sys
import threading
import traceback
import uuid
from importlib import import_module

from django.utils.module_loading import autodiscover_modules

try:  # Django 6
    from django.tasks import TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskContext, TaskError, TaskResult
    from django.tasks.exceptions import TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
except ImportError:  # Django 5.2, with the django-tasks backport
    from django_tasks import TaskResultStatus
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskContext, TaskError, TaskResult
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started

from jobs.registry import register

from . import conf
from .exceptions import SchedulerError

TASK_HANDLER = "django_task"
DEFAULT_MAX_RETRIES = 0  # a task runs once, as with Django's other backends
EXCEPTION_PATH = re.compile(r"^[A-Za-z_][\w.]*$")

SCHEMA = {
    "type": "object",
    "properties": {
        "task": {"type": "string", "minLength": 1, "maxLength": 500},
        "args": {"type": "array"},
        "kwargs": {"type": "object"},
        "backend": {"type": "string", "maxLength": 100},
    },
    "required": ["task"],
    "additionalProperties": False,
}


class TaskNotFound(SchedulerError):
    """No @task function is registered under this path."""

    def __init__(self, path: str):
        super().__init__(
            f"{path!r} is not a @task function of this project (define it in an installed "
            "app's tasks module, or list its module in SCHEDULER_TASK_MODULES).",
            path=path,
        )


class TaskRefused(SchedulerError):
    """Django tasks run only for jobs enqueued through the Tasks backend, not a user's job."""


# --- Finding tasks ----------------------------------------------------------------------

_discovered = False
_discover_lock = threading.Lock()


def discover_tasks() -> None:
    """Import each installed app's `tasks` module and SCHEDULER_TASK_MODULES, once."""
    global _discovered
    if _discovered:
        return
    with _discover_lock:
        if not _discovered:
            autodiscover_modules("tasks")
            for module in conf.SCHEDULER_TASK_MODULES:
                import_module(module)
            _discovered = True


def resolve_task(path: str) -> Task | None:
    """Return the @task whose path is `path`, from modules already imported, or None.

    Nothing is imported here: a path from a payload must not choose what code gets loaded.
    """
    discover_tasks()
    parts = path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        obj = sys.modules.get(".".join(parts[:split]))
        if obj is None:
            continue
        for attr in parts[split:]:
            obj = getattr(obj, attr, None)
        if isinstance(obj, Task) and obj.module_path == path:
            return obj
        return None
    return None


def check(payload: dict) -> list[str]:
    try:
        found = resolve_task(payload["task"])
    except Exception as exc:  # a project tasks module that fails to import
        return [f"task: the project's task modules cannot be imported: {exc}"]
    return [] if found is not None else [f"task: {TaskNotFound(payload['task'])}"]


# --- Running tasks ----------------------------------------------------------------------


@register(
    TASK_HANDLER,
    description="Run a Django @task enqueued through jobs.tasks_backend (internal).",
    schema=SCHEMA,
    check=check,
    internal=True,
)
def run_task(payload, ctx):
    if ctx.job.owner_id is not None:
        raise TaskRefused()
    task = resolve_task(payload["task"])
    if task is None:
        raise TaskNotFound(payload["task"])
    backend = task.get_backend()
    args, kwargs = payload.get("args", []), payload.get("kwargs", {})
    from .models import Execution

    # The task's result is built from the rows as the ORM reads them (the context's rows
    # hold only what the worker needs).
    execution = Execution.objects.select_related("job", "worker").get(pk=ctx.execution.id)
    running = build_result(
        execution.job, [execution], task=task, backend=payload.get("backend", task.backend)
    )
    task_started.send(type(backend), task_result=running)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=running), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        # Stored as JSON, as Django's backends require of return values.
        value = json.loads(json.dumps(value))
    except BaseException as exc:
        _set(running, status=TaskResultStatus.FAILED)
        running.errors.append(
            TaskError(
                exception_class_path=_path_of(type(exc)),
                traceback="".join(traceback.format_exception(exc)),
            )
        )
        task_finished.send(type(backend), task_result=running)
        raise
    _set(running, status=TaskResultStatus.SUCCESSFUL, _return_value=value)
    task_finished.send(type(backend), task_result=running)
    return value


# --- The backend ------------------------------------------------------------------------


class SchedulerBackend(BaseTaskBackend):
    """Store tasks as scheduler jobs; `runworker` runs them, in priority order, deferred or not.

    OPTIONS: `max_retries` (default 0: a failed task is not retried) and `timeout_seconds`
    (default the JOB_DEFAULT_TIMEOUT_SECONDS setting). QUEUES: the queue names tasks may use
    (an empty list allows any); a worker takes a queue with `runworker --queues`.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict):
        super().__init__(alias, params)
        self.max_retries = self.options.get("max_retries", DEFAULT_MAX_RETRIES)
        self.timeout_seconds = self.options.get("timeout_seconds")

    def enqueue(self, task: Task, args, kwargs) -> TaskResult:
        """Write the task's job in the current transaction and return its result, READY."""
        from .inprocess import enqueue

        self.validate_task(task)
        try:
            # JSON in, as the payload is stored: refuse here what could not be stored.
            args, kwargs = json.loads(json.dumps([list(args), dict(kwargs)]))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Task arguments must be JSON-serialisable: {exc}") from None
        job = enqueue(
            TASK_HANDLER,
            {"task": task.module_path, "args": args, "kwargs": kwargs, "backend": self.alias},
            run_at=task.run_after,
            queue=task.queue_name,
            priority=task.priority,
            name=task.module_path[:200],
            max_retries=self.max_retries,
            timeout_seconds=self.timeout_seconds,
        )
        result = build_result(job, [], task=task, backend=self.alias)
        # Sent when the row is written; the job still vanishes if the caller rolls back.
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """Return the task result with this id (a job id), read from the database."""
        from .models import Execution, Job

        try:
            job_id = uuid.UUID(str(result_id))
        except ValueError:
            raise TaskResultDoesNotExist(result_id) from None
        job = Job.objects.filter(pk=job_id, handler=TASK_HANDLER, owner__isnull=True).first()
        if job is None:
            raise TaskResultDoesNotExist(result_id)
        task = resolve_task(job.payload.get("task", ""))
        if task is None:
            raise TaskResultDoesNotExist(result_id)
        executions = list(
            Execution.objects.filter(job=job).select_related("worker").order_by("created_at", "id")
        )
        return build_result(job, executions, task=task, backend=self.alias)


def build_result(job, executions: list, *, task: Task, backend: str) -> TaskResult:
    """Return the TaskResult that `job` and its executions (oldest first) amount to."""
    from .states import ExecutionState, JobState

    with_options = task
    if (job.queue, job.priority) != (task.queue_name, task.priority):
        try:
            with_options = task.using(queue_name=job.queue, priority=job.priority)
        except Exception:  # the backend's settings changed since: show the task as defined
            with_options = task
    started = [e for e in executions if e.started_at]
    latest = executions[-1] if executions else None
    succeeded = next((e for e in executions if e.state == ExecutionState.SUCCEEDED), None)
    if succeeded is not None:
        status = TaskResultStatus.SUCCESSFUL
    elif latest is not None and latest.state == ExecutionState.RUNNING:
        status = TaskResultStatus.RUNNING
    elif job.state in (JobState.FAILED, JobState.CANCELLED) or (
        latest is not None and latest.state in (ExecutionState.DEAD, ExecutionState.CANCELLED)
    ):
        status = TaskResultStatus.FAILED
    else:
        status = TaskResultStatus.READY
    finished = status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)
    values = {
        "task": with_options,
        "id": str(job.pk),
        "status": status,
        "enqueued_at": job.created_at,
        "started_at": started[0].started_at if started else None,
        "finished_at": (latest.finished_at or job.updated_at) if finished and latest else None,
        "last_attempted_at": started[-1].started_at if started else None,
        "args": job.payload.get("args", []),
        "kwargs": job.payload.get("kwargs", {}),
        "backend": backend,
        "errors": [
            TaskError(
                exception_class_path=_exception_path(e.error, e.traceback),
                traceback=e.traceback or e.error,
            )
            for e in executions
            if e.state in (ExecutionState.FAILED, ExecutionState.DEAD) and (e.error or e.traceback)
        ],
        "worker_ids": [_worker_id(e) for e in started],
    }
    # Only the fields this Django's TaskResult has: the two releases may differ a little.
    names = {f.name for f in dataclasses.fields(TaskResult) if f.init}
    result = TaskResult(**{k: v for k, v in values.items() if k in names})
    if succeeded is not None:
        _set(result, _return_value=succeeded.result)
    return result


def _set(result: TaskResult, **values) -> None:
    # TaskResult is a frozen dataclass; Django's own backends update it the same way.
    for name, value in values.items():
        object.__setattr__(result, name, value)


def _worker_id(execution) -> str:
    worker = getattr(execution, "worker", None) if execution.worker_id else None
    return worker.name if worker is not None else str(execution.worker_id or "")


def _path_of(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _exception_path(error: str, tb: str) -> str:
    """The exception's class path, from the last line of its traceback (or the error text)."""
    lines = [line for line in (tb or "").splitlines() if line.strip()]
    last = lines[-1] if lines else (error or "")
    name = last.split(":", 1)[0].strip()
    if not EXCEPTION_PATH.match(name):
        return "builtins.Exception"
    if "." in name:
        return name
    if isinstance(getattr(builtins, name, None), type):
        return f"builtins.{name}"
    from . import exceptions

    if isinstance(getattr(exceptions, name, None), type):
        return f"{exceptions.__name__}.{name}"
    return "builtins.Exception"
