"""Transaction poolers (PgBouncer in `transaction` mode), told apart from a direct connection
at start-up so that nothing is sent through one that it cannot carry.

Such a pool lends a server connection for one transaction at a time, so what lives in a
session does not follow the client:
- a statement psycopg prepares on one client's behalf is met by another client's ("prepared
  statement already exists"), or, worse, run by one whose statement has the same name and
  parameter count: on a pooled connection nothing is prepared;
- a LISTEN is heard by whichever client borrows that server next: the worker listens on
  DATABASE_LISTEN_URL (a direct connection) when it is set, and otherwise polls.

DATABASE_POOL_MODE says which it is: `session` (a direct connection, or a pool in session
mode), `transaction`, or `auto` (the default), found out once per process and database by
`transaction_pooled`. PgBouncer 1.21 and newer can keep prepared statements
(`max_prepared_statements`); auto cannot tell, and prepares nothing behind it.
"""

import functools
import logging

import psycopg
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created
from django.dispatch import receiver

from .. import conf, database
from .params import NETWORK_TIMEOUTS, connection_params

logger = logging.getLogger("jobs.engine")

MODES = ("auto", "session", "transaction")
# Rounds of the probe: each gives the pool a chance to show itself, and costs two queries.
PROBE_ROUNDS = 3


def transaction_pooled(alias: str | None = None) -> bool:
    """Return True if connections to the database `alias` names (the scheduler's by
    default) go through a pool that hands out server connections per transaction."""
    mode = conf.DATABASE_POOL_MODE
    if mode not in MODES:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MODE must be one of {', '.join(MODES)}, not {mode!r}."
        )
    if mode != "auto":
        return mode == "transaction"
    return _probed(alias or database.alias())


@functools.cache
def _probed(alias: str) -> bool:
    params = {
        **NETWORK_TIMEOUTS,
        **connection_params(alias),
        "autocommit": True,
        "prepare_threshold": None,
    }
    pooled = _shares_servers(params)
    if pooled:
        logger.info(
            "The database %r is reached through a transaction pooler: no prepared statements, "
            "and workers listen on DATABASE_LISTEN_URL or poll",
            alias,
        )
    return pooled


def _shares_servers(params: dict) -> bool:
    """Two connections of ours, open at once, ask for their server process in turn.

    Directly, or through a pool in session mode, each keeps one server process of its own
    for its whole life. A pool in transaction mode lends the server that has just been
    freed first (PgBouncer's default), so the two share one, or one moves between servers.
    Either seen is proof; a busy pool may hide itself for a round, hence a few.
    """
    with psycopg.connect(**params) as first, psycopg.connect(**params) as second:
        seen_first, seen_second = set(), set()
        for _ in range(PROBE_ROUNDS):
            for conn, seen in ((first, seen_first), (second, seen_second)):
                seen.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        return len(seen_first) > 1 or len(seen_second) > 1 or bool(seen_first & seen_second)


@receiver(connection_created)
def _no_prepared_statements_through_a_pool(sender, connection, **kwargs):
    """Django's own connections (web requests, handlers using the ORM) prepare nothing
    behind a transaction pooler, whatever DATABASE_PREPARE_THRESHOLD says."""
    # Not Django's connection without a database (creating the test database): it has no
    # alias of the settings' and prepares nothing.
    if connection.alias not in settings.DATABASES:
        return
    if connection.vendor != "postgresql":
        return
    try:
        pooled = transaction_pooled(connection.alias)
    except psycopg.Error as exc:
        # The probe could not connect (a full pool?): this connection prepares nothing, the
        # safe choice either way, and the next one asks again.
        logger.warning("Could not tell whether %r is pooled: %s", connection.alias, exc)
        pooled = True
    if pooled:
        connection.connection.prepare_threshold = None
