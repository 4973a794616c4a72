"""History in monthly partitions: made ahead of need, dropped whole once past retention.

`jobs_execution` is partitioned by `scheduled_for` and `jobs_auditevent` by `created_at`
(migration 0013), one range partition per calendar month in UTC, named `<table>_yYYYYmMM`,
plus `<table>_default` for rows no month holds (a backfill of occurrences older than the
oldest month kept, say). Executions are partitioned by the occurrence they belong to because
it is part of their unique key (which PostgreSQL requires of a partition key) and never
changes: a row never moves between partitions, so nothing that waits on an execution's lock
ever finds it gone. The queue's live rows sit in the newest months, beside at most a month or
two of finished ones, and the claim reads them through partial indexes of queued rows; the
older months are finished history that nothing writes any more, which vacuum freezes once.

`ensure` makes the current month and the next MONTHS_AHEAD: after every `migrate`, by each
worker at its first heartbeat and hourly after, and at each cleanup run. `drop_expired` is
retention: a month goes whole (detached, then dropped: no mass DELETE, no dead rows, no
vacuum) once every row in it is older than the cutoff, which the cleanup handler gives it. A
month that still holds an unfinished execution, or one finished since the cutoff (a retry
long after its occurrence), stays until it holds none; it is looked at again once detached,
when nothing can be written to it. One process at a time changes the partitions (an
advisory lock); each change takes a short exclusive lock on the parent table and gives up
after LOCK_TIMEOUT rather than queue behind a long transaction (and every claim behind it);
the next run tries again.
"""

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import Error, transaction
from django.utils import timezone

from . import database
from .states import FINISHED_EXECUTION_STATES

logger = logging.getLogger("jobs.partitions")

# Each partitioned table, and the time it is partitioned by.
TABLES = {"jobs_execution": "scheduled_for", "jobs_auditevent": "created_at"}
MONTHS_AHEAD = 1  # tended hourly: a month of slack for a fleet that is down
LOCK_TIMEOUT = "1s"
TEND_SECONDS = 3600
_tended = {"at": None}
_MONTH_NAME = re.compile(r"_y(\d{4})m(\d{2})$")


@dataclass(frozen=True)
class Month:
    """One month's partition of `table`: rows whose key is in [start, end)."""

    table: str
    name: str
    start: datetime
    end: datetime


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def month(table: str, start: datetime) -> Month:
    start = month_start(start)
    return Month(table, f"{table}_y{start:%Y}m{start:%m}", start, next_month(start))


def months(table: str) -> list[Month]:
    """The month partitions `table` has, oldest first (partitions named otherwise are not
    ours and are left alone)."""
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class AS child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = %s::regclass",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    found = []
    for name in names:
        match = _MONTH_NAME.search(name)
        if match and name == f"{table}{match.group(0)}":
            found.append(month(table, datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)))
    return sorted(found, key=lambda m: m.start)


def ensure(*, now: datetime | None = None) -> list[str]:
    """Make the partitions of this month and the next MONTHS_AHEAD where missing; return the
    names made. A month that cannot be made now (a lock not granted in time) is logged and
    left for the next call."""
    start = month_start(now or timezone.now())
    made = []
    for table in TABLES:
        if not _partitioned(table):
            continue  # migrated back to before partitioning (or not yet migrated)
        have = {m.name for m in months(table)}
        wanted = start
        for _ in range(MONTHS_AHEAD + 1):
            part = month(table, wanted)
            if part.name not in have and _try(f"make {part.name}", create, part):
                made.append(part.name)
            wanted = next_month(wanted)
    return made


def tend() -> None:
    """`ensure`, at most once per TEND_SECONDS in this process (a worker calls it at every
    heartbeat). A database error is logged, not raised: the worker's work goes on, and the
    next call tries again."""
    mono = time.monotonic()
    if _tended["at"] is not None and mono - _tended["at"] < TEND_SECONDS:
        return
    _tended["at"] = mono
    try:
        ensure()
    except Error as error:
        logger.warning("Could not check the history partitions: %s", str(error).strip())
    finally:
        # A worker's own statements run on connections of its own: Django's is not kept
        # open (one more server connection per worker) for an hourly check.
        if transaction.get_autocommit(using=database.alias()):
            database.connection().close()


def create(part: Month) -> bool:
    """Make the partition `part`, taking over the rows of its month from the default
    partition (which would otherwise refuse the new bounds). False if it exists already
    (another process made it first)."""
    key = TABLES[part.table]
    default = f"{part.table}_default"
    bounds = [part.start, part.end]
    with database.atomic(), database.cursor() as cursor:
        _lock(cursor)
        if _exists(cursor, part.name):
            return False
        # Made apart and attached: ATTACH locks the parent less than CREATE ... PARTITION OF.
        cursor.execute(
            f"CREATE TABLE {part.name} (LIKE {part.table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        cursor.execute(f"SELECT 1 FROM {default} WHERE {key} >= %s AND {key} < %s LIMIT 1", bounds)
        if cursor.fetchone():
            # Detached, the default partition loses the triggers it has from the parent
            # (the audit trail's append-only one among them) and may give up its rows.
            cursor.execute(f"ALTER TABLE {part.table} DETACH PARTITION {default}")
            cursor.execute(
                f"WITH moved AS (DELETE FROM {default} WHERE {key} >= %s AND {key} < %s "
                f"RETURNING *) INSERT INTO {part.name} SELECT * FROM moved",
                bounds,
            )
            cursor.execute(f"ALTER TABLE {part.table} ATTACH PARTITION {default} DEFAULT")
        cursor.execute(
            f"ALTER TABLE {part.table} ATTACH PARTITION {part.name} "
            f"FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
        )
    logger.info("Made history partition %s", part.name)
    return True


def drop_expired(*, executions_before: datetime, audit_before: datetime | None) -> dict:
    """Drop the months wholly before the cutoffs (audit events: none when `audit_before` is
    None); return the names dropped and those kept for a row still in use or in view."""
    dropped, kept = [], []
    for table, cutoff in (("jobs_execution", executions_before), ("jobs_auditevent", audit_before)):
        if cutoff is None:
            continue
        for part in months(table):
            if part.end > cutoff:
                break
            # A first look without locks spares a month in use the table's lock.
            if table == "jobs_execution" and _in_use(part, cutoff):
                kept.append(part.name)
                continue
            outcome = _try(f"drop {part.name}", _drop, part, cutoff)
            if outcome:
                dropped.append(part.name)
            elif outcome is False:
                kept.append(part.name)
    return {"partitions_dropped": dropped, "partitions_kept": kept}


def _drop(part: Month, cutoff: datetime) -> bool:
    """Detach and drop `part`, unless, detached, it shows a row still in use (written since
    the first look: a backfill of an old occurrence, say); then it stays as it was."""
    with database.atomic(), database.cursor() as cursor:
        _lock(cursor)
        if not _exists(cursor, part.name):
            return False
        cursor.execute(f"ALTER TABLE {part.table} DETACH PARTITION {part.name}")
        if part.table == "jobs_execution" and _in_use(part, cutoff):
            transaction.set_rollback(True, using=database.alias())
            return False
        cursor.execute(f"DROP TABLE {part.name}")
    logger.info("Dropped history partition %s", part.name)
    return True


def _lock(cursor) -> None:
    """Take the partitions' lock for this transaction (one process changes them at a time),
    and bound how long its statements wait for any lock: a DDL statement queued behind a long
    transaction would queue every claim behind itself."""
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('jobs.partitions'))")


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def _partitioned(table: str) -> bool:
    with database.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def _in_use(part: Month, cutoff: datetime) -> bool:
    """Whether `part` holds an unfinished execution or one finished since `cutoff`."""
    with database.cursor() as cursor:
        # Two probes of the (state, finished_at) index, not one OR that would read the month.
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {part.name} WHERE state IN ('queued', 'running')) "
            f"OR EXISTS (SELECT 1 FROM {part.name} WHERE state = ANY(%s) AND finished_at >= %s)",
            [list(FINISHED_EXECUTION_STATES), cutoff],
        )
        return cursor.fetchone()[0]


def _try(what: str, step, *args) -> bool | None:
    """`step(*args)`'s answer, or None when the database refused (logged)."""
    try:
        return step(*args)
    except Error as error:
        logger.warning("Could not %s now, will try again: %s", what, str(error).strip())
        return None
