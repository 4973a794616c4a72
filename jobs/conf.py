"""The scheduler's settings, each with its default, read in one place.

    from jobs import conf
    conf.WORKER_POLL_SECONDS

Each name reads Django's settings when it is used (so override_settings and tests that
change settings take effect), and falls back to the default here. scheduler_project.settings
fills them from the environment; a project that installs the apps without it gets these.
"""

from django.conf import settings

DEFAULTS = {
    # Workers
    "WORKER_HEARTBEAT_SECONDS": 5.0,
    "WORKER_LEASE_SECONDS": 30.0,  # silent this long, a worker's executions are rescued
    "WORKER_POLL_SECONDS": 1.0,  # materialise and claim at least this often
    "WORKER_SHUTDOWN_GRACE_SECONDS": 30.0,
    "WORKER_LISTEN": True,  # LISTEN/NOTIFY wake-ups; off behind a transaction pooler
    "REQUIRE_WORKERS": False,  # /health/ready fails with no live worker
    # Jobs
    "JOB_DEFAULT_TIMEOUT_SECONDS": 3600,
    "RETRY_BACKOFF_MAX_SECONDS": 3600,
    "MISFIRE_GRACE_SECONDS": 60,
    "MAX_PAYLOAD_BYTES": 256 * 1024,
    "NOTIFICATION_QUEUE": "",  # empty: the queue of the job notified about
    # Built-in handlers
    "EMAIL_MAX_RECIPIENTS": 50,
    "CLEANUP_RETENTION_DAYS": 30,
    "WEBHOOK_ALLOWED_ADDRESSES": [],
    "WEBHOOK_CA_BUNDLE": "",
    "SCHEDULER_HANDLER_MODULES": [],
    "SCHEDULER_HANDLER_ENTRY_POINTS": True,
    "SCHEDULER_TASK_MODULES": [],
    # Observability
    "METRICS_TOKEN": "",
    "METRICS_WINDOW_SECONDS": 300,
}


def __getattr__(name: str):
    try:
        default = DEFAULTS[name]
    except KeyError:
        raise AttributeError(f"jobs.conf has no setting {name}") from None
    return getattr(settings, name, default)


def __dir__():
    return sorted(DEFAULTS)
