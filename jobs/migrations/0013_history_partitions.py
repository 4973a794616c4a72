"""Executions and audit events move into tables partitioned by month (jobs.partitions).

Each table is rebuilt as a partitioned one of the same name, columns, indexes, constraints
and triggers: executions by `scheduled_for` (part of their unique key, and never changed, so
no row ever moves between partitions), audit events by `created_at`. The months that existing
rows fall in get a partition each, plus a default partition for any row outside them; the
months ahead are made by jobs.partitions.ensure after every migrate. Backwards, the tables
become plain ones again with every row kept. Django's model state does not change: the
primary key of each table now also holds the partition key, as PostgreSQL requires, and `id`
stays unique through its sequence.

This runs in the migration's transaction and rewrites both tables, which take no writes
meanwhile: on a large history it takes a while (the README's "History in monthly
partitions" says when to run it).
"""

from datetime import UTC, datetime

from django.db import migrations

TABLES = {"jobs_execution": "scheduled_for", "jobs_auditevent": "created_at"}


def _fetch(cursor, sql, params=None):
    cursor.execute(sql, params)
    return cursor.fetchall()


def _next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def _months(first: datetime, last: datetime):
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    while start <= last:
        yield start
        start = _next_month(start)


def _rebuild(cursor, table: str, key: str | None) -> None:
    """Rebuild `table` partitioned by month of `key` (or, with None, as a plain table)."""
    new = f"{table}_rebuilt"
    indexes = [
        row[0]
        for row in _fetch(
            cursor,
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
            "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)",
            [table],
        )
    ]
    # Checks come with LIKE; the primary key is rebuilt below; the rest are added back.
    constraints = _fetch(
        cursor,
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('u', 'f') AND conparentid = 0",
        [table],
    )
    triggers = [
        row[0]
        for row in _fetch(
            cursor,
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = %s::regclass AND NOT tgisinternal AND tgparentid = 0",
            [table],
        )
    ]
    (sequence,) = _fetch(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]

    partitioned = f" PARTITION BY RANGE ({key})" if key else ""
    cursor.execute(
        f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING IDENTITY){partitioned}"
    )
    if key:
        now = datetime.now(UTC)
        (first,) = _fetch(cursor, f"SELECT min({key}) FROM {table}")[0]
        for start in _months(min(first or now, now), now):
            end = _next_month(start)
            cursor.execute(
                f"CREATE TABLE {table}_y{start:%Y}m{start:%m} PARTITION OF {new} "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        cursor.execute(f"CREATE TABLE {table}_default PARTITION OF {new} DEFAULT")
    cursor.execute(f"INSERT INTO {new} SELECT * FROM {table}")
    (last_id,) = _fetch(
        cursor, f"SELECT greatest(last_value, (SELECT max(id) FROM {table})) FROM {sequence}"
    )[0]
    cursor.execute(f"DROP TABLE {table}")
    cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
    (renamed,) = _fetch(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]
    cursor.execute(f"ALTER SEQUENCE {renamed} RENAME TO {sequence.split('.')[-1]}")
    cursor.execute("SELECT setval(%s, %s)", [sequence, last_id])
    primary_key = f"id, {key}" if key else "id"
    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({primary_key})")
    for statement in indexes + triggers:
        cursor.execute(statement)
    for name, definition in constraints:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def _lock(cursor) -> None:
    # Writes wait for the rebuild (reads go on): none may land in a table about to go.
    cursor.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        _lock(cursor)
        for table, key in TABLES.items():
            _rebuild(cursor, table, key)


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        _lock(cursor)
        for table in TABLES:
            _rebuild(cursor, table, None)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0012_execution_claimed_at"),
    ]

    operations = [migrations.RunPython(partition, unpartition)]
