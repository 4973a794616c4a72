"""What makes a job valid, checked the same way for the API, the admin and Django code.

`job_validate` takes the whole definition (defaults filled in); a bad one raises
ValidationError with field -> messages, every problem at once.
"""

import json

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email

from jobs.registry import Handler, get_handler

from .. import conf, schedules
from ..exceptions import HandlerNotFound, ValidationError
from ..models import SCHEDULE_FIELDS, SMALLINT_MAX, Job
from ..states import NOTIFY_EVENTS, MisfirePolicy

NOTIFY_FIELDS = (
    "notify_on",
    "notify_emails",
    "notify_webhook_url",
    "notify_webhook_secret",
    "notify_digest_minutes",
)
EDITABLE_FIELDS = (
    "name",
    "handler",
    "payload",
    *SCHEDULE_FIELDS,
    "queue",
    "priority",
    "max_retries",
    "retry_backoff_seconds",
    "timeout_seconds",
    "misfire_policy",
    "concurrency_key",
    "concurrency_limit",
    *NOTIFY_FIELDS,
)
MAX_RETRIES_LIMIT = 100
MAX_CONCURRENCY_KEY_LENGTH = 200
MAX_NOTIFY_EMAILS = 20
MAX_BACKOFF_BASE_SECONDS = 7 * 24 * 3600


def job_validate(fields: dict) -> dict:
    """Return `fields` normalised, or raise ValidationError with every problem found.

    `fields` is the whole definition (defaults filled in); the API and the admin form both
    call this, so a job is valid or not the same way everywhere.
    """
    errors: dict[str, list[str]] = {}
    fields = {**fields}
    fields["cron"] = (fields.get("cron") or "").strip()
    fields["timezone"] = fields.get("timezone") or "UTC"

    if not (fields.get("name") or "").strip():
        errors.setdefault("name", []).append("A job needs a name.")

    payload = fields.get("payload")
    if payload is None:
        payload = fields["payload"] = {}
    try:
        handler = get_handler(fields.get("handler") or "")
    except HandlerNotFound as exc:
        errors.setdefault("handler", []).append(str(exc))
        handler = None
    problems = payload_problems(handler, payload)
    if problems:
        errors.setdefault("payload", []).extend(problems)

    for field, message in schedules.validate(
        schedules.Schedule(
            schedule_type=fields.get("schedule_type"),
            run_at=fields.get("run_at"),
            interval_seconds=fields.get("interval_seconds"),
            cron=fields["cron"],
            timezone=fields["timezone"],
        )
    ).items():
        errors.setdefault(field, []).extend(message)

    if fields.get("misfire_policy", MisfirePolicy.RUN_ONCE) not in MisfirePolicy.values:
        errors.setdefault("misfire_policy", []).append(
            f"Must be one of: {', '.join(MisfirePolicy.values)}."
        )
    if not 0 <= (fields.get("max_retries") or 0) <= MAX_RETRIES_LIMIT:
        errors.setdefault("max_retries", []).append(f"Must be between 0 and {MAX_RETRIES_LIMIT}.")
    if not 0 <= (fields.get("retry_backoff_seconds") or 0) <= MAX_BACKOFF_BASE_SECONDS:
        errors.setdefault("retry_backoff_seconds", []).append(
            f"Must be between 0 and {MAX_BACKOFF_BASE_SECONDS} seconds."
        )
    timeout = fields.get("timeout_seconds")
    if timeout is not None and timeout < 1:
        errors.setdefault("timeout_seconds", []).append("Must be at least 1 second.")
    if not (fields.get("queue") or "default").strip():
        errors.setdefault("queue", []).append("The queue name cannot be blank.")

    _validate_concurrency(fields, errors)
    _validate_notifications(fields, errors)
    if errors:
        raise ValidationError(errors)
    return fields


def payload_json(payload) -> str:
    """`payload` as JSON text, compact: its size is counted on this."""
    return json.dumps(payload, separators=(",", ":"))


def payload_problems(handler: Handler | None, payload, *, text: str | None = None) -> list[str]:
    """What is wrong with `payload` (whose payload_json is `text`, when known): its size,
    then (when it fits) `handler`'s schema."""
    size = len((payload_json(payload) if text is None else text).encode())
    if size > conf.MAX_PAYLOAD_BYTES:
        return [f"The payload is {size} bytes; the limit is {conf.MAX_PAYLOAD_BYTES} bytes."]
    return handler.validate(payload) if handler is not None else []


def _validate_concurrency(fields: dict, errors: dict) -> None:
    """A concurrency key comes with its limit; no key means no limit ("" is no key)."""
    key = (fields.get("concurrency_key") or "").strip() or None
    limit = fields.get("concurrency_limit")
    fields["concurrency_key"] = key
    if key is None:
        if limit is not None:
            errors.setdefault("concurrency_limit", []).append(
                "A concurrency limit needs a concurrency_key: the jobs it counts together."
            )
        return
    if len(key) > MAX_CONCURRENCY_KEY_LENGTH:
        errors.setdefault("concurrency_key", []).append(
            f"At most {MAX_CONCURRENCY_KEY_LENGTH} characters."
        )
    if limit is None:
        errors.setdefault("concurrency_limit", []).append(
            "A concurrency_key needs its concurrency_limit: how many may run at once."
        )
    elif not 1 <= limit <= SMALLINT_MAX:
        errors.setdefault("concurrency_limit", []).append(f"From 1 to {SMALLINT_MAX}.")


def _validate_notifications(fields: dict, errors: dict) -> None:
    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    events = fields.get("notify_on") or []
    if not isinstance(events, list) or any(e not in NOTIFY_EVENTS for e in events):
        add("notify_on", f"A list of events among: {', '.join(NOTIFY_EVENTS)}.")
    emails = fields.get("notify_emails") or []
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        add("notify_emails", "A list of email addresses.")
    else:
        if len(emails) > MAX_NOTIFY_EMAILS:
            add("notify_emails", f"At most {MAX_NOTIFY_EMAILS} addresses.")
        for address in emails:
            try:
                validate_email(address)
            except DjangoValidationError:
                add("notify_emails", f"{address!r} is not an email address.")
    url = fields.get("notify_webhook_url") or ""
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError:
            add("notify_webhook_url", "Enter an http(s) URL.")
    minutes = fields.get("notify_digest_minutes")
    if minutes is not None and not 0 <= minutes <= 24 * 60:
        add("notify_digest_minutes", "Must be between 0 and 1440 minutes.")
    if events and not (emails or url):
        add("notify_on", "Events to notify need notify_emails or notify_webhook_url.")


def is_internal(handler: str) -> bool:
    """Whether `handler` is one of the scheduler's own (notifications, Django tasks)."""
    try:
        return get_handler(handler).internal
    except HandlerNotFound:
        return False


def refuse_internal(handler: str, owner) -> None:
    """Internal handlers run only jobs the system made."""
    if owner is not None and is_internal(handler):
        raise ValidationError(
            {"handler": [f"The handler {handler!r} is used by the scheduler only."]}
        )


def refuse_editing_internal(job: Job) -> None:
    """The scheduler's own jobs (a notification to send, a Django task) are not edited: a
    changed payload would send someone else's mail or run another task. An unregistered
    handler is not refused: editing it to a known one is how such a job is repaired."""
    if is_internal(job.handler):
        raise ValidationError(
            {
                "handler": [
                    f"Jobs of {job.handler!r} are the scheduler's own: they cannot be edited."
                ]
            }
        )
