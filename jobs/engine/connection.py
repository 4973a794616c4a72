"""The worker's own PostgreSQL connections, built from Django's connection settings.

The worker does not share Django's connection: its statements run through psycopg
directly, bound on the server and prepared (after `prepare_threshold` runs, from the
database OPTIONS; never behind a transaction pooler, pooler.py), in transactions it opens
itself, each statement cancelled past WORKER_STATEMENT_TIMEOUT_SECONDS (and retried like any
database error), with JIT compilation off. The web keeps Django's connection.
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
    # Set on the session once, not as startup options, which PgBouncer refuses in any mode;
    # behind a transaction pooler the session is not ours to set (set them on the role).
    if not pooled:
        _set_session(conn)
    return conn


def _set_session(conn: psycopg.Connection) -> None:
    # JIT off: the worker's statements are short, and a claim the planner costs high (its
    # limit depends on a queue's room, so it is priced as a tenth of the queue) crossed
    # jit_above_cost at 300,000 queued and spent 170 ms compiling a 1 ms claim.
    settings = {"jit": "off"}
    if conf.WORKER_STATEMENT_TIMEOUT_SECONDS:
        settings["statement_timeout"] = f"{int(conf.WORKER_STATEMENT_TIMEOUT_SECONDS * 1000)}ms"
    calls = ", ".join("set_config(%s, %s, false)" for _ in settings)
    # A plain cursor: whatever cursor_factory the caller asked for is for its statements.
    try:
        with psycopg.Cursor(conn) as cursor:
            cursor.execute(f"SELECT {calls}", [v for item in settings.items() for v in item])
    except psycopg.Error:
        conn.close()
        raise
