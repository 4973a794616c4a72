"""Statements for the hot paths, built from the ORM's own SQL.

Enqueueing writes a job, its first execution and an audit event, and wakes the workers: as
ORM calls that is five round trips and a transaction around them. `write_together` sends
them as one statement (data-modifying CTEs), which PostgreSQL runs atomically on its own.
`bound_cursor` lets PostgreSQL bind and prepare the statements a worker repeats (the
claim), so that they are planned once per connection instead of at every call.
"""

from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.models.sql import InsertQuery

from . import wakeup


def insert(objs: list) -> tuple[str, list]:
    """Return the INSERT (without RETURNING) that bulk_create would send for `objs`.

    The rows are written as the ORM writes them (columns, defaults, JSON and dates adapted
    by the fields), but model signals are not sent, as with bulk_create.
    """
    model = type(objs[0])
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.generated]
    if opts.auto_field is not None and objs[0].pk is None:
        fields.remove(opts.auto_field)  # the database numbers the rows
    query = InsertQuery(model)
    query.insert_values(fields, objs)
    # By alias, not through django.db.connection: the compiler then holds the connection
    # itself, and its many attribute reads skip the proxy's thread-local lookup.
    [(sql, params)] = query.get_compiler(using=DEFAULT_DB_ALIAS).as_sql()
    return sql, list(params)


def write_together(statements: list[tuple[str, list]], *, notify: list[str]) -> None:
    """Run INSERT `statements` all or none, and send `notify` payloads at commit.

    On PostgreSQL this is one statement: outside a transaction it is a transaction of its
    own (one round trip in all); inside one it is part of it, and the notifications wait for
    its commit. Other databases run the statements one after another in a transaction.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
        return
    ctes = ", ".join(f"w{i} AS ({sql})" for i, (sql, _) in enumerate(statements))
    params = [param for _, part in statements for param in part]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {ctes} SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
            [*params, wakeup.CHANNEL, notify],
        )


def bound_cursor():
    """Return a cursor whose parameters PostgreSQL binds, so that psycopg may prepare its
    statements (after `prepare_threshold` runs of the same SQL; None in the database
    OPTIONS turns that off, as a pooler in transaction mode needs)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
    # What connection.cursor() adds: the thread check, and query logging under DEBUG.
    return connection._prepare_cursor(cursor)
