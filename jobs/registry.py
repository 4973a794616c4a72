"""The handler registry: the only code a job can name.

A job stores a handler's registered name, never an import path, so nothing a user types can
become code to run. Apps register handlers with `@register(...)` in a module their
`AppConfig.ready()` imports (or list it in `SCHEDULER_HANDLER_MODULES`); installed packages
can name such a module under the entry point group `django_pgscheduler.handlers`.
"""

import importlib.metadata
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jsonschema

from .exceptions import ExecutionCancelled, HandlerNotFound
from .schema_example import example_of

ANY_OBJECT = {"type": "object"}
ENTRY_POINT_GROUP = "django_pgscheduler.handlers"

logger = logging.getLogger("handlers")


@dataclass
class HandlerContext:
    """What a handler gets beside its payload; what a handler author may rely on.

    - `job`: the job, as the claim read it (jobs.engine.rows.JobRow, frozen): `id`, `name`,
      `handler`, `payload`, `owner_id`, `queue`, `priority`, `schedule_type`, `run_at`,
      `timezone`, `max_retries`, `retry_backoff_seconds`, `timeout_seconds`; read more of
      it through the ORM (`Job.objects.get(pk=ctx.job.id)`).
    - `execution`: this attempt (ExecutionRow, frozen): `id`, `job_id`, `scheduled_for` (the
      occurrence), `attempt`, `queue`, `priority`, `run_after`, `started_at`, `worker_id`.
    - `attempt`: 1 for the first try, 2 for the first retry, and so on.
    - `payload`: the job's payload (the handler's first argument too).
    - `logger`: a logger named `jobs.handler.<handler name>`; what it logs (at the levels
      it is enabled for) is also kept with the execution, up to EXECUTION_LOG_MAX_BYTES.
    - `progress(percent, message)`: how far the run got, shown with the execution.
    - cancellation: `is_cancelled()`, `raise_if_cancelled()` and `sleep(seconds)` see a
      cancel (by a person, or the job's timeout) as soon as the worker hears of it.
    """

    job: Any
    execution: Any
    attempt: int
    logger: logging.Logger | logging.LoggerAdapter
    cancel_event: threading.Event = field(default_factory=threading.Event)
    run_log: Any = None  # jobs.worker.run_log.RunLog: where logs and progress are kept

    @property
    def payload(self) -> Any:
        return self.job.payload

    def is_cancelled(self) -> bool:
        """Return True once the execution was cancelled or timed out; stop soon after."""
        return self.cancel_event.is_set()

    def raise_if_cancelled(self) -> None:
        """Stop the handler here if the execution was cancelled."""
        if self.cancel_event.is_set():
            raise ExecutionCancelled()

    def sleep(self, seconds: float) -> None:
        """Sleep, waking early (and raising) if the execution is cancelled."""
        if self.cancel_event.wait(seconds):
            raise ExecutionCancelled()

    def progress(self, percent: float, message: str = "") -> None:
        """Say how far the run got: `percent` from 0 to 100 (ValueError outside), and what
        it is doing (up to 200 characters). The worker writes the latest with the log."""
        if not 0 <= percent <= 100:
            raise ValueError(f"progress is a percentage from 0 to 100, not {percent!r}")
        if self.run_log is not None:
            self.run_log.set_progress(percent, message)


@dataclass(frozen=True)
class Handler:
    name: str
    func: Callable[[dict, HandlerContext], Any]
    description: str = ""
    schema: dict = field(default_factory=lambda: ANY_OBJECT)
    # Rules a JSON Schema cannot say (limits read from settings, address syntax): called
    # with a payload that already passed the schema, returns messages like validate().
    check: Callable[[dict], list[str]] | None = None
    # Run only for jobs the system creates (no owner), never for a user's job: e.g. the
    # Django Tasks handler, which calls application functions with stored arguments.
    internal: bool = False

    @cached_property
    def validator(self) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(self.schema)

    @cached_property
    def example(self) -> dict | None:
        """A payload to start from, read from the schema (schema_example); None when what it
        reads would not pass the schema itself."""
        example = example_of(self.schema)
        return example if isinstance(example, dict) and self.validator.is_valid(example) else None

    def validate(self, payload) -> list[str]:
        """Return the payload's schema errors, as readable messages."""
        # is_valid first: it stops at the first error, and most payloads have none.
        valid = self.validator.is_valid(payload)
        errors = [] if valid else self.validator.iter_errors(payload)
        errors = sorted(errors, key=lambda e: list(e.absolute_path))
        messages = []
        for error in errors:
            where = "/".join(str(part) for part in error.absolute_path)
            messages.append(f"{where}: {error.message}" if where else error.message)
        if not messages and self.check is not None:
            messages.extend(self.check(payload))
        return messages


_registry: dict[str, Handler] = {}


def register(
    name: str,
    *,
    description: str = "",
    schema: dict | None = None,
    check: Callable[[dict], list[str]] | None = None,
    internal: bool = False,
    serializer: type | None = None,
):
    """Register the decorated callable as the handler called `name`.

    The payload's rules come from `schema` (a JSON Schema), or from `serializer` (a DRF
    serializer class: it validates, and the schema is derived from its fields), plus an
    optional `check` for what neither can say.
    """
    if serializer is not None:
        from .payload_serializers import errors_of, schema_for

        if schema is None:
            schema = schema_for(serializer)
        check = _serializer_check(serializer, errors_of, then=check)
    if schema is not None:
        jsonschema.Draft202012Validator.check_schema(schema)

    def decorator(func):
        previous = _registry.get(name)
        if previous is not None and _qualified_name(previous.func) != _qualified_name(func):
            # Last one wins, as before; say so, since a job of this name now runs other code.
            logger.warning(
                "Handler name=%s re-registered: %s replaces %s",
                name,
                _qualified_name(func),
                _qualified_name(previous.func),
            )
        _registry[name] = Handler(
            name=name,
            func=func,
            description=description or (func.__doc__ or "").strip(),
            schema=schema or ANY_OBJECT,
            check=check,
            internal=internal,
        )
        return func

    return decorator


def get_handler(name: str) -> Handler:
    """Return the handler registered as `name`, or raise HandlerNotFound."""
    try:
        return _registry[name]
    except KeyError:
        raise HandlerNotFound(name) from None


def all_handlers() -> list[Handler]:
    """Return every registered handler, by name."""
    return [_registry[name] for name in sorted(_registry)]


def _serializer_check(serializer, errors_of, *, then):
    def check(payload: dict) -> list[str]:
        problems = errors_of(serializer, payload)
        if not problems and then is not None:
            problems = then(payload)
        return problems

    return check


def discover_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Import the handler modules that installed packages name in `group`; return their names.

    An entry point names a module (`mypkg.handlers`) whose import runs its `@register`
    decorators. One that fails to load is logged and skipped: a broken third-party package
    must not stop the admin, the API or the workers (its jobs fail with HandlerNotFound).
    """
    loaded = []
    for entry_point in importlib.metadata.entry_points(group=group):
        try:
            entry_point.load()
        except Exception:
            logger.exception(
                "Cannot load handler entry point name=%s value=%s",
                entry_point.name,
                entry_point.value,
            )
        else:
            loaded.append(entry_point.name)
    return loaded


def _qualified_name(func) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
