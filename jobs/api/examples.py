"""Request and response examples shown in the API docs."""

from drf_spectacular.utils import OpenApiExample

JOB_ID = "6f1c2a9e-3b7d-4c55-9a0e-2f4d8b1c7e10"

_JOB = {
    "id": JOB_ID,
    "owner": "alice",
    "name": "Nightly report",
    "handler": "sleep",
    "payload": {"seconds": 2},
    "schedule_type": "cron",
    "run_at": None,
    "interval_seconds": None,
    "cron": "0 3 * * *",
    "timezone": "Europe/Berlin",
    "queue": "default",
    "priority": 0,
    "max_retries": 3,
    "retry_backoff_seconds": 10,
    "timeout_seconds": 600,
    "misfire_policy": "run_once",
    "state": "active",
    "next_run_at": "2030-01-02T02:00:00Z",
    "last_run_at": None,
    "created_at": "2030-01-01T09:00:00Z",
    "updated_at": "2030-01-01T09:00:00Z",
    "upcoming_runs": [
        "2030-01-02T02:00:00Z",
        "2030-01-03T02:00:00Z",
        "2030-01-04T02:00:00Z",
        "2030-01-05T02:00:00Z",
        "2030-01-06T02:00:00Z",
    ],
}

_EXECUTION = {
    "id": 1042,
    "job": JOB_ID,
    "job_name": "Nightly report",
    "handler": "sleep",
    "scheduled_for": "2030-01-01T09:05:00Z",
    "attempt": 1,
    "state": "queued",
    "queue": "default",
    "priority": 0,
    "run_after": "2030-01-01T09:05:00Z",
    "worker": None,
    "started_at": None,
    "finished_at": None,
    "duration_seconds": None,
    "cancel_requested": False,
    "result": None,
    "error": "",
    "created_at": "2030-01-01T09:05:00Z",
}

JOB_CREATE = [
    OpenApiExample(
        "A cron job",
        request_only=True,
        value={
            "name": "Nightly report",
            "handler": "sleep",
            "payload": {"seconds": 2},
            "schedule_type": "cron",
            "cron": "0 3 * * *",
            "timezone": "Europe/Berlin",
            "timeout_seconds": 600,
        },
    ),
    OpenApiExample(
        "A one-time job",
        request_only=True,
        value={
            "name": "Send the welcome mail",
            "handler": "noop",
            "schedule_type": "once",
            "run_at": "2030-01-01T09:00:00+01:00",
        },
    ),
    OpenApiExample(
        "An interval job",
        request_only=True,
        value={
            "name": "Poll the feed",
            "handler": "noop",
            "schedule_type": "interval",
            "interval_seconds": 300,
            "queue": "polling",
            "priority": 5,
        },
    ),
    OpenApiExample("Created", response_only=True, status_codes=["201"], value=_JOB),
    OpenApiExample(
        "Invalid fields",
        response_only=True,
        status_codes=["400"],
        value={
            "status": 400,
            "code": "invalid",
            "detail": "handler: No handler is registered under the name 'nope'.; "
            "run_at: Give the time with a UTC offset, e.g. 2030-01-01T09:00:00+01:00 or ...Z.",
            "errors": {
                "handler": ["No handler is registered under the name 'nope'."],
                "run_at": [
                    "Give the time with a UTC offset, e.g. 2030-01-01T09:00:00+01:00 or ...Z."
                ],
            },
        },
    ),
]

JOB_UPDATE = [
    OpenApiExample(
        "Move to another queue", request_only=True, value={"queue": "reports", "priority": 10}
    ),
    OpenApiExample("Updated", response_only=True, status_codes=["200"], value=_JOB),
]

RESCHEDULE = [
    OpenApiExample("Run once, later", request_only=True, value={"run_at": "2030-01-01T18:00:00Z"}),
    OpenApiExample(
        "Every 15 minutes",
        request_only=True,
        value={"schedule_type": "interval", "interval_seconds": 900},
    ),
    OpenApiExample(
        "Weekdays at 07:30 in Paris",
        request_only=True,
        value={"schedule_type": "cron", "cron": "30 7 * * 1-5", "timezone": "Europe/Paris"},
    ),
]

TRIGGER = [
    OpenApiExample("Queued", response_only=True, status_codes=["202"], value=_EXECUTION),
    OpenApiExample(
        "Cancelled job",
        response_only=True,
        status_codes=["409"],
        value={
            "status": 409,
            "code": "invalid_transition",
            "detail": "Cannot trigger a job that is cancelled.",
            "errors": {},
        },
    ),
]

EXECUTION_LIST = [
    OpenApiExample(
        "A dead letter",
        response_only=True,
        value={
            **_EXECUTION,
            "attempt": 4,
            "state": "dead",
            "worker": "worker-1@host-a",
            "started_at": "2030-01-01T09:06:00Z",
            "finished_at": "2030-01-01T09:06:01.250000Z",
            "duration_seconds": 1.25,
            "error": "RuntimeError: upstream answered 503",
        },
    ),
]
