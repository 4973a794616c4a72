"""Log formatting: one JSON object per line in production, readable text in development.

`LOG_FORMAT` (json or text) picks the formatter in settings.LOGGING. Structured fields come
from the LogRecord: the worker passes job_id, execution_id, attempt, worker and duration as
`extra=`, and RequestIdFilter adds the request id of the HTTP request being served.
"""

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

# The id of the request this thread is serving; set by ops.middleware.RequestIdMiddleware.
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` or a filter.
_STANDARD_ATTRS = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",
        # django.request puts the HttpRequest on its records: the request id stands for it.
        "request",
    }
)


class RequestIdFilter(logging.Filter):
    """Add `request_id` to records logged while a request is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # django.request logs error responses after the middleware has returned, but
            # it puts the request on the record.
            request_id = request_id_var.get() or getattr(
                getattr(record, "request", None), "request_id", None
            )
            if request_id is not None:
                record.request_id = request_id
        return True


def _jsonable(value):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON: time, level, logger, message, then its fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = _jsonable(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ensure_ascii keeps each entry on one line whatever the message holds.
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """The development format; lines logged during a request end with its id."""

    def __init__(self, fmt: str | None = None, **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s %(message)s", **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            first, newline, rest = line.partition("\n")
            line = f"{first} request_id={request_id}{newline}{rest}"
        return line
