"""Readiness checks: the database answers, its migrations are applied, workers are live.

Cheap enough to poll every second: one query for the database and migrations (just
`SELECT 1` once the migrations were seen applied, re-read every MIGRATIONS_RECHECK seconds)
and one for live workers, served by an index.

The probe is public, so its answer names each check and says "ok" or "fail", nothing more:
a database error's text (host, port, user, database) and the pending migrations go to the
log, where operators read them.
"""

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, ProgrammingError, connections, router
from django.db.migrations.loader import MigrationLoader

from jobs import conf
from jobs.models import Worker

logger = logging.getLogger("ops.health")

MIGRATIONS_RECHECK = 60.0  # seconds a "migrations applied" answer is trusted
_lock = threading.Lock()
_expected: frozenset[tuple[str, str]] | None = None
_applied_seen_at: float | None = None
_last_ready: bool | None = None  # None: not checked yet in this process


def _expected_migrations() -> frozenset[tuple[str, str]]:
    """The migrations on disk, read once per process (code does not change under it)."""
    global _expected
    if _expected is None:
        with _lock:
            if _expected is None:
                loader = MigrationLoader(None, ignore_no_migrations=True)
                _expected = frozenset(loader.graph.nodes)
    return _expected


def _pending_migrations() -> list[str]:
    """Return the migrations not applied to the databases (raises DatabaseError if one is
    down). Each database is asked for the apps the routers let migrate there: with a
    scheduler database of its own (SCHEDULER_DATABASE_URL), the scheduler's apps there."""
    global _applied_seen_at
    seen = _applied_seen_at
    pending = []
    for alias in settings.DATABASES:
        with connections[alias].cursor() as cursor:
            if seen is not None and time.monotonic() - seen < MIGRATIONS_RECHECK:
                cursor.execute("SELECT 1")
                continue
            expected = {m for m in _expected_migrations() if router.allow_migrate(alias, m[0])}
            try:
                cursor.execute("SELECT app, name FROM django_migrations")
            except ProgrammingError:
                # No django_migrations table: a database nobody has migrated yet.
                applied = set()
            else:
                applied = set(cursor.fetchall())
        pending += sorted(f"{app}.{name}" for app, name in expected - applied)
    if not pending:
        _applied_seen_at = time.monotonic()
    return pending


def readiness() -> tuple[bool, dict[str, str]]:
    """Return whether this instance is ready to serve, and "ok" or "fail" for each check."""
    ok, checks = _check()
    global _last_ready
    if ok != _last_ready:
        # Logged on change only: the probe may be polled every second.
        failed = {name: check for name, check in checks.items() if not check["ok"]}
        if ok:
            logger.info("Ready: database, migrations and workers check out")
        else:
            logger.warning("Not ready: %s", failed, extra={"checks": failed})
        _last_ready = ok
    return ok, {name: "ok" if check["ok"] else "fail" for name, check in checks.items()}


def _check() -> tuple[bool, dict]:
    checks: dict[str, dict] = {}
    try:
        pending = _pending_migrations()
    except DatabaseError as exc:
        checks["database"] = {"ok": False, "error": _one_line(exc)}
        return False, checks
    checks["database"] = {"ok": True}
    checks["migrations"] = {"ok": not pending, "pending": pending[:20]}
    required = conf.REQUIRE_WORKERS
    try:
        live = Worker.objects.alive().count()
    except DatabaseError as exc:
        checks["workers"] = {"ok": not required, "required": required, "error": _one_line(exc)}
    else:
        checks["workers"] = {"ok": live > 0 or not required, "required": required, "live": live}
    return all(check["ok"] for check in checks.values()), checks


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
