"""`manage.py runworker`: run jobs on this host."""

import logging

import psycopg
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, OperationalError, ProgrammingError

from jobs import conf, database
from jobs.worker import WorkerProcess
from jobs.worker.fence import FENCE_SHARE

# SQLSTATEs of a table or column that is not there: a deploy that skipped migrate (or a
# statement prepared by another client of a pooler, bound to ours).
MISSING_SCHEMA = ("42P01", "42703")
# SQLSTATEs of a prepared statement that already exists or does not: the server session
# changed under the client, as behind a pooler in transaction mode that does not keep
# prepared statements (PgBouncer before 1.21, or without max_prepared_statements).
POOLER_STATEMENTS = ("42P05", "26000")
POOLER_HINT = (
    "a transaction pooler (PgBouncer?) that does not keep prepared statements: set "
    "DATABASE_POOL_MODE=transaction (or auto, the default), or give the worker a direct "
    "connection"
)

logger = logging.getLogger("jobs.worker")


def migrate_command() -> str:
    """How to migrate the scheduler's tables: on their own database when they have one."""
    alias = database.alias()
    return "manage.py migrate" + ("" if alias == DEFAULT_DB_ALIAS else f" --database {alias}")


def fatal_reason(exc: Exception) -> str:
    """One line for a database error that stops the worker, naming its likely cause."""
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    cause = exc.__cause__ if isinstance(exc, ProgrammingError) else exc
    state = getattr(cause, "sqlstate", None)
    if state in POOLER_STATEMENTS:
        return f"{first_line} ({POOLER_HINT})"
    if state in MISSING_SCHEMA:
        return (
            f"{first_line} (is the database migrated? run: {migrate_command()}; if it is, "
            f"{POOLER_HINT})"
        )
    return first_line


def unapplied_migrations() -> bool:
    """Return True if migrations are missing on the scheduler's database; False also when it
    cannot be asked (the worker then waits for it like for any outage)."""
    try:
        call_command("migrate", database=database.alias(), check_unapplied=True, verbosity=0)
    except SystemExit as stop:  # migrate --check exits 1 when migrations are unapplied
        return bool(stop.code)
    except OperationalError:
        return False
    return False


def queue_list(value: str) -> list[str]:
    queues = [q.strip() for q in value.split(",") if q.strip()]
    if not queues:
        raise CommandError("--queues needs at least one queue name, e.g. --queues default,mail")
    return queues


class Command(BaseCommand):
    help = "Claim and run due jobs from the given queues until stopped (SIGTERM/SIGINT)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues", default="default", help="Comma-separated queues to take jobs from."
        )
        parser.add_argument(
            "--concurrency", type=int, default=4, help="Jobs run at once (threads)."
        )
        parser.add_argument(
            "--prefetch",
            type=int,
            default=None,
            help="Executions claimed ahead of free slots, no more than the slots start "
            "within WORKER_PREFETCH_WAIT_SECONDS (default WORKER_PREFETCH; 0: none).",
        )
        parser.add_argument(
            "--burst", action="store_true", help="Drain what is due now, then exit."
        )
        parser.add_argument("--name", default=None, help="Worker name (default host:pid).")
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=None,
            help="Seconds between polls (default WORKER_POLL_SECONDS).",
        )

    def handle(self, *args, queues, concurrency, prefetch, burst, name, poll_interval, **options):
        if not 1 <= concurrency <= 1000:
            raise CommandError("--concurrency must be between 1 and 1000.")
        prefetch = conf.WORKER_PREFETCH if prefetch is None else prefetch
        if prefetch < 0:
            raise CommandError("--prefetch (default WORKER_PREFETCH) must be 0 or more.")
        if poll_interval is not None and poll_interval <= 0:
            raise CommandError("--poll-interval must be a positive number of seconds.")
        lease = conf.WORKER_LEASE_SECONDS
        if poll_interval is not None and poll_interval >= lease:
            # A worker busy materialising for a poll interval does not heartbeat meanwhile.
            raise CommandError(
                f"--poll-interval must be below WORKER_LEASE_SECONDS ({lease:g} s): a worker "
                "silent that long has its executions rescued."
            )
        heartbeat = conf.WORKER_HEARTBEAT_SECONDS
        if heartbeat >= FENCE_SHARE * lease:
            raise CommandError(
                f"WORKER_HEARTBEAT_SECONDS ({heartbeat:g}) must be below {FENCE_SHARE:.0%} of "
                f"WORKER_LEASE_SECONDS ({lease:g} s): a worker that long without a heartbeat "
                "fences itself."
            )
        worker = WorkerProcess(
            queues=queue_list(queues),
            concurrency=concurrency,
            burst=burst,
            name=name,
            poll_interval=poll_interval,
            prefetch=prefetch,
        )
        if unapplied_migrations():
            raise CommandError(f"The database is not migrated: run {migrate_command()} first.")
        try:
            code = worker.run()
        except (ProgrammingError, psycopg.ProgrammingError) as exc:
            reason = fatal_reason(exc)
            # Through the project's logging too (JSON in production), not only on stderr.
            logger.error("Worker stopped: %s", reason, exc_info=exc, extra={"worker": worker.name})
            raise CommandError(reason) from exc
        if code:
            raise SystemExit(code)
