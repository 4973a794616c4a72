"""The scheduler's settings and their defaults, read in one place.

Code reads a setting as an attribute of this module::

    from jobs import conf

    lease = timedelta(seconds=conf.WORKER_LEASE_SECONDS)

Each read looks the name up in `django.conf.settings` at that moment, so `override_settings`
(and pytest-django's `settings` fixture) take effect at once, and falls back to the default
below when the project's settings do not set it. scheduler_project/settings.py sets every
name here from the environment variable of the same name, cast like its default, so the
defaults are written here only. Reading a name that is not listed is an AttributeError: a
misspelt setting fails where it is read instead of silently taking some default.
"""

import copy

from django.conf import settings

DEFAULTS = {
    # --- Workers (`manage.py runworker`) ---
    # Seconds between a worker's heartbeats; each one renews its lease.
    "WORKER_HEARTBEAT_SECONDS": 5.0,
    # Seconds a worker may stay silent before live workers rescue what it holds.
    "WORKER_LEASE_SECONDS": 30.0,
    # Longest sleep, in seconds, between polls when no NOTIFY arrives.
    "WORKER_POLL_SECONDS": 1.0,
    # Seconds SIGTERM waits for running executions before releasing them to the queue.
    "WORKER_SHUTDOWN_GRACE_SECONDS": 30.0,
    # Seconds a statement of a worker's own connections may run before PostgreSQL cancels it
    # (the worker retries, as after any database error); 0: no limit. Not set behind a
    # transaction pooler, where sessions are shared: set statement_timeout on the role there.
    "WORKER_STATEMENT_TIMEOUT_SECONDS": 30.0,
    # PostgreSQL LISTEN/NOTIFY wake-ups; off means polling only (e.g. behind PgBouncer in
    # transaction pooling mode, which cannot hold a LISTEN).
    "WORKER_LISTEN": True,
    # Handler threads a worker may have abandoned (their run timed out but the thread has
    # not returned) before it stops claiming until some of them end.
    "WORKER_MAX_ABANDONED_THREADS": 8,
    # Executions a worker claims ahead of its free slots, from queues without limits, so a
    # slot that frees starts its next at once (no more than its slots start within
    # WORKER_PREFETCH_WAIT_SECONDS at the recent pace); 0: none.
    "WORKER_PREFETCH": 40,
    # Seconds an execution claimed ahead may wait for a slot before it goes back to the
    # queue (every slot busy with longer runs: another worker may start it sooner); 0: no
    # claiming ahead.
    "WORKER_PREFETCH_WAIT_SECONDS": 1.0,
    # --- The database ---
    # auto: find out at start-up whether connections go through a pool in transaction mode
    # (PgBouncer), which cannot keep prepared statements or a LISTEN (jobs.engine.pooler);
    # session: they do not (a direct connection, or a pool in session mode); transaction:
    # they do.
    "DATABASE_POOL_MODE": "auto",
    # A direct connection (a libpq URL) for the workers' LISTEN when DATABASE_URL goes
    # through a transaction pooler; empty: workers behind one poll (WORKER_POLL_SECONDS).
    "DATABASE_LISTEN_URL": "",
    # --- Jobs and their runs ---
    # Bytes of what a handler logs (ctx.logger) kept with each execution; past it, a marker
    # says the log was cut. 0: keep none.
    "EXECUTION_LOG_MAX_BYTES": 64 * 1024,
    # Seconds a run of a job without its own timeout_seconds may take.
    "JOB_DEFAULT_TIMEOUT_SECONDS": 3600,
    # Cap, in seconds, of the exponential retry backoff.
    "RETRY_BACKOFF_MAX_SECONDS": 3600,
    # Seconds late an occurrence may be and still run under the `skip` misfire policy.
    "MISFIRE_GRACE_SECONDS": 60,
    # Bytes of a job's payload, as JSON.
    "MAX_PAYLOAD_BYTES": 256 * 1024,
    # Levels of objects and lists in a payload, the payload object itself counting as 1. Far
    # more than any real payload needs, far below where Python's recursion limit is reached.
    "MAX_PAYLOAD_DEPTH": 32,
    # Queue of notification deliveries; empty: the queue of the job they are about.
    "NOTIFICATION_QUEUE": "",
    # Occurrences one backfill may queue; a range holding more is refused.
    "BACKFILL_MAX_OCCURRENCES": 1000,
    # Steps one workflow may have; a larger one is refused.
    "WORKFLOW_MAX_STEPS": 1000,
    # --- Quotas (non-staff users) ---
    # Limits on the jobs of ordinary users (jobs.quotas); jobs of staff users and jobs
    # without an owner are exempt. 0 lifts a count or a number of seconds below, an empty
    # QUOTA_QUEUES any queue; QUOTA_MAX_PRIORITY is lifted by 32767 (priority is a smallint).
    # Jobs a user may have that are not finished (active or paused).
    "QUOTA_MAX_ACTIVE_JOBS": 100,
    # Seconds at least between two runs: interval_seconds, and the closest runs of a cron.
    "QUOTA_MIN_INTERVAL_SECONDS": 60,
    # The highest priority a user's job may have.
    "QUOTA_MAX_PRIORITY": 10,
    # Seconds a run may take: timeout_seconds, or JOB_DEFAULT_TIMEOUT_SECONDS without it.
    "QUOTA_MAX_TIMEOUT_SECONDS": 3600,
    # Queues a user's jobs may run in.
    "QUOTA_QUEUES": ["default"],
    # Emails (one per recipient) a user's email and report jobs may send in 24 hours.
    "QUOTA_EMAILS_PER_DAY": 200,
    # --- Handlers ---
    # Extra modules imported at start-up so their @register'ed handlers exist.
    "SCHEDULER_HANDLER_MODULES": [],
    # Import installed packages' handler modules (entry point group
    # "django_pgscheduler.handlers").
    "SCHEDULER_HANDLER_ENTRY_POINTS": True,
    # Modules holding Django @task functions beyond each installed app's `tasks` module.
    "SCHEDULER_TASK_MODULES": [],
    # Addresses or networks (e.g. "10.0.5.0/24") the webhook handler may call although they
    # are loopback, private, link-local or otherwise not public.
    "WEBHOOK_ALLOWED_ADDRESSES": [],
    # A PEM file of the CAs webhook TLS certificates are checked against; empty: certifi's.
    "WEBHOOK_CA_BUNDLE": "",
    # Recipients (to + cc + bcc) of one email sent by the email handler or a report.
    "EMAIL_MAX_RECIPIENTS": 50,
    # Days of finished history the cleanup handler keeps by default.
    "CLEANUP_RETENTION_DAYS": 30,
    # Days of audit events the system's cleanup job keeps (whole months are dropped once
    # past it); 0, the default: keep them all.
    "AUDIT_RETENTION_DAYS": 0,
    # --- The REST API ---
    # Results per page of a list, when the request gives no page_size.
    "API_PAGE_SIZE": 50,
    # The largest page_size a request may ask for.
    "API_MAX_PAGE_SIZE": 500,
    # --- Operations ---
    # A bearer token that may read /metrics without being a staff user's; empty: none.
    "METRICS_TOKEN": "",
    # Seconds of activity the windowed figures of /metrics and `jobsctl stats` cover.
    "METRICS_WINDOW_SECONDS": 300,
    # /health/ready answers 503 while no worker is live (for deployments that need them).
    "REQUIRE_WORKERS": False,
    # OpenTelemetry traces (the `otel` extra): a job keeps the trace context of whatever
    # enqueued it, and its worker continues it with a claim span and a run span. The
    # exporter is configured by OpenTelemetry's own OTEL_* environment variables.
    "TRACING_ENABLED": False,
}


def __getattr__(name: str):
    try:
        default = DEFAULTS[name]
    except KeyError:
        raise AttributeError(f"jobs.conf has no setting {name}") from None
    # A copy, so a caller that changes a list it was given cannot change the default.
    return getattr(settings, name) if hasattr(settings, name) else copy.copy(default)


def __dir__():
    return sorted([*globals(), *DEFAULTS])
