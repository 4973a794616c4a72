"""The worker's own PostgreSQL connections, built from Django's connection settings.

The worker does not share Django's connection: its statements run through psycopg
directly, bound on the server and prepared (after `prepare_threshold` runs, from the
database OPTIONS; never behind a transaction pooler, pooler.py), in transactions it opens
itself. The web keeps Django's connection.
"""

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

from . import pooler

# Options Django passes to psycopg.connect for its own cursors and adapters: ours use
# psycopg's defaults.
_DJANGO_ONLY = ("cursor_factory", "context")
# A dead network noticed in seconds, not when the kernel gives up (minutes): TCP keepalives
# on an idle connection (a LISTEN, a worker between claims) declare it dead after about
# 5 + 2 x 3 s, a write unacknowledged for 10 s fails, and connecting gives up after 10 s.
# libpq's own parameters, so they hold behind a pooler too; the database's OPTIONS win.
NETWORK_TIMEOUTS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # ms
}


def connection_params(alias: str = DEFAULT_DB_ALIAS) -> dict:
    """Return psycopg.connect keyword arguments for the database `alias` names."""
    params = connections[alias].get_connection_params()
    for name in _DJANGO_ONLY:
        params.pop(name, None)
    return params


def connect(alias: str = DEFAULT_DB_ALIAS, **overrides) -> psycopg.Connection:
    """Open an autocommit connection of the worker's own to the database `alias` names."""
    params = {**NETWORK_TIMEOUTS, **connection_params(alias), "autocommit": True}
    if pooler.transaction_pooled(alias):
        params["prepare_threshold"] = None
    return psycopg.connect(**{**params, **overrides})
