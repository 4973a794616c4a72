"""What the worker's own connections are opened with: Django's settings for a database,
and the network timeouts that notice a dead link in seconds."""

from django.db import connections

from .. import database

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


def connection_params(alias: str | None = None) -> dict:
    """Return psycopg.connect keyword arguments for the database `alias` names (the
    scheduler's by default)."""
    params = connections[alias or database.alias()].get_connection_params()
    for name in _DJANGO_ONLY:
        params.pop(name, None)
    return params
