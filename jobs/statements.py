"""Statements for the hot paths, with the ORM's columns and value adaptation.

Enqueueing writes a job, its first execution and an audit event, and wakes the workers: as
ORM calls that is five round trips and a transaction around them. `write_together` sends
them as one statement (data-modifying CTEs), which PostgreSQL runs atomically on its own.
`bound_cursor` lets PostgreSQL bind and prepare the statements repeated most (the claim,
an enqueue), so that they are planned once per connection instead of at every call.
"""

import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models.sql import InsertQuery

from . import wakeup

MAX_BOUND_PARAMS = 65_535  # what the PostgreSQL protocol can bind in one statement


def insert(objs: list) -> tuple[str, list]:
    """Return the INSERT (without RETURNING) that bulk_create would send for `objs`.

    The rows are written as the ORM writes them (columns, defaults, JSON and dates adapted
    by the fields), but model signals are not sent, as with bulk_create. Many rows go
    through the ORM's compiler (on PostgreSQL an UNNEST of one array per column). One row,
    an enqueue's, is put together here, in half the compiler's time, with its NULLs
    written into the SQL: it then stays within the parameters psycopg parses once and
    caches (50), and PostgreSQL gets a shorter statement to bind.
    """
    fields, into = _insert_into(type(objs[0]), with_pk=objs[0].pk is not None)
    if len(objs) > 1 or into is None:
        return _compiled_insert(objs, fields)
    [obj] = objs
    # The connection itself: through the django.db.connection proxy every field's
    # adaptation would look the thread's connection up again.
    db = connections[DEFAULT_DB_ALIAS]
    placeholders, params = [], []
    values = [field.pre_save(obj, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        return _compiled_insert(objs, fields)  # Now(), F() and the like: the ORM's way
    for field, value in zip(fields, values, strict=True):
        value = field.get_db_prep_save(value, db)
        if value is None:
            placeholders.append("NULL")
        else:
            placeholders.append("%s")
            params.append(value)
    return f"{into} VALUES ({', '.join(placeholders)})", params


@functools.cache
def _insert_into(model, *, with_pk: bool) -> tuple[tuple, str | None]:
    """Return the fields an INSERT of `model` writes and its `INSERT INTO t (columns)`, or
    None for that when a field has a placeholder of its own (as geometries have): those
    rows go through the compiler."""
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.generated]
    if opts.auto_field is not None and not with_pk:
        fields.remove(opts.auto_field)  # the database numbers the rows
    if any(hasattr(f, "get_placeholder") for f in fields):
        return tuple(fields), None
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    return tuple(fields), f"INSERT INTO {quote(opts.db_table)} ({columns})"


def _compiled_insert(objs: list, fields) -> tuple[str, list]:
    query = InsertQuery(type(objs[0]))
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
    params += [wakeup.CHANNEL, notify]
    # Bound on the server (and prepared once repeated) unless the parameters are more than
    # PostgreSQL can bind. Many rows usually come as one array per column (the compiler's
    # UNNEST), but not when a field or a value needs SQL of its own.
    with bound_cursor() if len(params) <= MAX_BOUND_PARAMS else connection.cursor() as cursor:
        cursor.execute(
            f"WITH {ctes} SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) AS payload",
            params,
        )


def bound_cursor():
    """Return a cursor whose parameters PostgreSQL binds, so that psycopg may prepare its
    statements (after `prepare_threshold` runs of the same SQL; None in the database
    OPTIONS turns that off, as a pooler in transaction mode needs)."""
    from django.db.backends.postgresql.base import ServerBindingCursor

    # As connection.cursor() does: a connection that failed its health check is replaced.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor = ServerBindingCursor(connection.connection)
    # What connection.cursor() adds: the thread check, and query logging under DEBUG.
    return connection._prepare_cursor(cursor)


def load_timestamps_in_c(sender, connection, **kwargs):
    """On each new PostgreSQL connection (a connection_created receiver), load timestamptz
    values as Django's loader does, but parsed by psycopg's own loader (in C with
    psycopg[binary]).

    Django's loader is a Python subclass of psycopg's Python loader: a claimed batch has a
    dozen timestamps a row, and parsing them in Python took an eighth of a worker's time.
    Django keeps this loader: it replaces a connection's only when the timezone differs.
    """
    if connection.vendor == "postgresql":
        loader = _timestamptz_loader(connection.timezone)
        connection.connection.adapters.register_loader("timestamptz", loader)


@functools.cache
def _timestamptz_loader(tz):
    """Return a loader of timestamptz values as aware datetimes in `tz` (naive for None)."""
    from psycopg import adapters
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    parser = adapters.get_loader(adapters.types["timestamptz"].oid, Format.TEXT)

    class TimestamptzLoader(Loader):
        timezone = tz  # as Django's loader names it

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = parser(oid, context).load

        def load(self, data):
            return self._parse(data).replace(tzinfo=tz)

    return TimestamptzLoader
