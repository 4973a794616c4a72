"""History in monthly partitions: made ahead of need, dropped whole once past retention.

`jobs_execution` is partitioned by `scheduled_for` and `jobs_auditevent` by `created_at`
(migration 0013), one range partition per calendar month in UTC, named `<table>_yYYYYmMM`,
plus `<table>_default` for rows no month holds (a backfill of occurrences older than the
oldest month kept, say). Executions are partitioned by the occurrence they belong to because
it is part of their unique key (which PostgreSQL requires of a partition key) and never
changes: a row never moves between partitions as it runs and ends, so nothing that waits on
an execution's lock finds it gone (only retention moves a row, below, with the table locked).
The queue's live rows sit in the newest months, beside at most a month or two of finished
ones, and the claim reads them through partial indexes of queued rows; the older months are
finished history that nothing writes any more, which vacuum freezes once.

`ensure` makes the current month and the next MONTHS_AHEAD: after every `migrate`, by each
worker at its first heartbeat and hourly after, and at each cleanup run. `drop_expired` is
retention: a month goes whole (detached, then dropped: no mass DELETE, no dead rows, no
vacuum) once its last day is older than the cutoff, which the cleanup handler gives it. The
few executions in it still in use (unfinished, or finished since the cutoff: a retry long
after its occurrence) are first handed to the default partition, where the row-by-row
cleanup finds them later; a month with more than MOVE_AT_MOST of them stays. One process at
a time changes the partitions (an advisory lock); each change takes a short exclusive lock
on the parent table (and on the default partition, or on the jobs and workers tables its
foreign keys point to) and gives up after LOCK_TIMEOUT rather than queue behind a long
transaction (and every claim behind it); the next run tries again.
"""

import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from django.db import Error, transaction
from django.db.models import Q
from django.utils import timezone

from . import database
from .states import FINISHED_EXECUTION_STATES

logger = logging.getLogger("jobs.partitions")

# Each partitioned table, and the time it is partitioned by.
TABLES = {"jobs_execution": "scheduled_for", "jobs_auditevent": "created_at"}
MONTHS_AHEAD = 1  # tended hourly: a month of slack for a fleet that is down
LOCK_TIMEOUT = "1s"
TEND_SECONDS = 3600
# The most executions still in use a month past retention hands to the default partition
# before it goes (they are copied while the table is locked); with more, it stays.
MOVE_AT_MOST = 10_000
_tended = {"at": None, "thread": None}


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


def month_named(table: str, name: str) -> Month | None:
    """The month of `table` whose partition is called `name`; None for any other name."""
    match = re.fullmatch(rf"{table}_y(\d{{4}})m(\d{{2}})", name)
    return month(table, datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)) if match else None


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
        found = [month_named(table, name) for (name,) in cursor.fetchall()]
    return sorted(filter(None, found), key=lambda m: m.start)


def outside_months(table: str) -> Q:
    """The rows of `table` no month partition holds (those of its default partition): a
    condition on the partition key, so PostgreSQL reads only the default partition."""
    key = TABLES[table]
    held = months(table)
    if not held:
        return Q()
    outside = Q(**{f"{key}__lt": held[0].start}) | Q(**{f"{key}__gte": held[-1].end})
    for before, after in pairwise(held):
        if before.end < after.start:  # a month kept while those around it were dropped
            outside |= Q(**{f"{key}__gte": before.end, f"{key}__lt": after.start})
    return outside


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
    """`ensure` in a thread of its own, at most once per TEND_SECONDS in this process (a
    worker calls this at every heartbeat). The thread uses Django's connection, which has
    none of the worker's network timeouts: on a dead network it may wait long, but never
    holds the worker's loop. Whatever fails is logged; the next call tries again."""
    mono = time.monotonic()
    last, thread = _tended["at"], _tended["thread"]
    if (last is not None and mono - last < TEND_SECONDS) or (thread and thread.is_alive()):
        return
    _tended["at"] = mono
    _tended["thread"] = threading.Thread(target=_tend, name="history-partitions", daemon=True)
    _tended["thread"].start()


def _tend() -> None:
    try:
        ensure()
    except Exception:  # a thread of upkeep: log what stopped it, never die silently
        logger.exception("Could not check the history partitions")
    finally:
        with contextlib.suppress(Error):
            database.connection().close()  # this thread's: not kept open for an hour


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
        # Made apart and attached: ATTACH locks the parent less than CREATE ... PARTITION OF
        # (it locks the default partition, normally all but empty, which it reads whole).
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
        _unlock(cursor)
    logger.info("Made history partition %s", part.name)
    return True


def drop_expired(*, executions_before: datetime, audit_before: datetime | None) -> dict:
    """Drop the months wholly before the cutoffs (audit events: none when `audit_before` is
    None). Return the names dropped, those kept for a row still in use or in view, and
    those busy (a lock not granted in time: the next run tries again)."""
    result = {"partitions_dropped": [], "partitions_kept": [], "partitions_busy": []}
    _drop_detached()
    for table, cutoff in (("jobs_execution", executions_before), ("jobs_auditevent", audit_before)):
        if cutoff is None:
            continue
        for part in months(table):
            if part.end > cutoff:
                break
            outcome = _retire(part, cutoff)
            if outcome:
                result[f"partitions_{outcome}"].append(part.name)
    return result


def _retire(part: Month, cutoff: datetime) -> str | None:
    """Drop `part`: "dropped", "kept" (too many rows in use to move), "busy", or None when
    another process dropped it first."""
    detached = _try(f"detach {part.name}", _detach, part, cutoff)
    if detached == "gone":
        return None
    if detached != "detached":
        return "busy" if detached is None else detached
    # Detached but not dropped (busy): invisible already, and the next run drops it.
    return "dropped" if _try(f"drop {part.name}", _drop, part.name) else "busy"


def _detach(part: Month, cutoff: datetime) -> str | None:
    """Detach `part`, first handing the executions still in use (unfinished, or finished
    since the cutoff: a late retry, a backfill of an old occurrence) to the default
    partition, ids and all; with more than MOVE_AT_MOST of them, leave it as it was. Each
    is read and moved while the parent is locked, so none is written meanwhile; committed
    before the drop, which also locks the tables its foreign keys point to (jobs, workers)
    and so should not hold the parent too."""
    with database.atomic(durable=True), database.cursor() as cursor:
        _lock(cursor)
        if not _exists(cursor, part.name):
            return "gone"
        cursor.execute(f"ALTER TABLE {part.table} DETACH PARTITION {part.name}")
        if part.table == "jobs_execution" and not _move_in_use(cursor, part, cutoff):
            transaction.set_rollback(True, using=database.alias())
            return "kept"
    return "detached"


def _move_in_use(cursor, part: Month, cutoff: datetime) -> bool:
    # Two probes of the (state, finished_at) index, not one OR that would read the month.
    in_use = (
        f"SELECT * FROM {part.name} WHERE state IN ('queued', 'running') UNION ALL "
        f"SELECT * FROM {part.name} WHERE state = ANY(%(finished)s) AND finished_at >= %(cutoff)s"
    )
    params = {
        "finished": list(FINISHED_EXECUTION_STATES),
        "cutoff": cutoff,
        "most": MOVE_AT_MOST + 1,
    }
    cursor.execute(f"SELECT count(*) FROM ({in_use} LIMIT %(most)s) AS row", params)
    (count,) = cursor.fetchone()
    if count > MOVE_AT_MOST:
        logger.warning(
            "Kept history partition %s: more than %d executions in it are still in use",
            part.name,
            MOVE_AT_MOST,
        )
        return False
    if count:
        # The month is detached: the parent routes these rows to its default partition.
        cursor.execute(f"INSERT INTO {part.table} {in_use}", params)
        logger.info("Moved %d executions still in use out of %s", count, part.name)
    return True


def _drop(name: str) -> bool:
    """Drop the detached month `name`: first its foreign keys, which lock the jobs and
    workers tables, in a transaction of their own; then the table, which locks nothing else
    while its files are removed (about a second for 3.5 GB: no claim waits on that)."""
    with database.atomic(durable=True), database.cursor() as cursor:
        _lock(cursor)
        if not _exists(cursor, name):
            return True
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
            [name],
        )
        for (constraint,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {name} DROP CONSTRAINT "{constraint}"')
    with database.atomic(durable=True), database.cursor() as cursor:
        _lock(cursor)
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
    logger.info("Dropped history partition %s", name)
    return True


def _drop_detached() -> None:
    """Drop the months a past run detached but could not drop (their tables stay apart)."""
    with database.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
            "AND relname LIKE ANY(%s)",
            [[f"{table}_y%" for table in TABLES]],
        )
        names = [name for (name,) in cursor.fetchall()]
    for name in names:
        if any(month_named(table, name) for table in TABLES):
            _try(f"drop {name}", _drop, name)


def _lock(cursor) -> None:
    """Take the partitions' lock for this transaction (one process changes them at a time),
    and bound how long its statements wait for any lock: a DDL statement queued behind a long
    transaction would queue every claim behind itself."""
    cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext('jobs.partitions'))")


def _unlock(cursor) -> None:
    """Give the caller's transaction its lock timeout back (SET LOCAL outlives a savepoint)."""
    cursor.execute("SET LOCAL lock_timeout = DEFAULT")


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


def _partitioned(table: str) -> bool:
    with database.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def _try(what: str, step, *args):
    """`step(*args)`'s answer, or None when the database refused (logged)."""
    try:
        return step(*args)
    except Error as error:
        logger.warning("Could not %s now, will try again: %s", what, str(error).strip())
        return None
