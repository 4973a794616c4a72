"""The worker's own PostgreSQL connections, built from Django's connection settings.

The worker does not share Django's connection: its statements run through psycopg
directly, bound on the server and prepared (after `prepare_threshold` runs, from the
database OPTIONS; never behind a transaction pooler, pooler.py), in transactions it opens
itself, each statement cancelled past WORKER_STATEMENT_TIMEOUT_SECONDS (and retried like any
database error). The web keeps Django's connection.
"""

import psycopg

from .. import conf, database
from . import pooler
from .params import NETWORK_TIMEOUTS, connection_params


def connect(alias: str | None = None, **overrides) -> psycopg.Connection:
    """Open an autocommit connection of the worker's own to the database `alias` names (the
    scheduler's by default)."""
    alias = alias or database.alias()
    params = {**NETWORK_TIMEOUTS, **connection_params(alias), "autocommit": True}
    pooled = pooler.transaction_pooled(alias)
    if pooled:
        params["prepare_threshold"] = None
    conn = psycopg.connect(**{**params, **overrides})
    # Set on the session once, not as a startup option, which PgBouncer refuses in any
    # mode; behind a transaction pooler the session is not ours to set (set it on the role).
    if not pooled and conf.WORKER_STATEMENT_TIMEOUT_SECONDS:
        timeout = f"{int(conf.WORKER_STATEMENT_TIMEOUT_SECONDS * 1000)}ms"
        # A plain cursor: whatever cursor_factory the caller asked for is for its statements.
        try:
            with psycopg.Cursor(conn) as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, false)", [timeout])
        except psycopg.Error:
            conn.close()
            raise
    return conn
