"""Fixtures for calling the engine as a worker does: on a connection of its own.

The engine's statements commit on that connection, so tests that use it run with
transaction=True (their rows are committed where the engine can see them).
"""

import psycopg
import pytest

from jobs import engine
from jobs.models import Worker


class CountingCursor(psycopg.Cursor):
    """A cursor that notes each statement it executes on its connection's `statements`."""

    def execute(self, query, params=None, **kwargs):
        self.connection.statements.append(query)
        return super().execute(query, params, **kwargs)


@pytest.fixture
def db():
    """The worker's own connection to the test database; `db.statements` lists what ran."""
    conn = engine.connect(cursor_factory=CountingCursor)
    conn.statements = []
    yield conn
    conn.close()


@pytest.fixture
def worker():
    return Worker.objects.create(name="w", hostname="h", pid=1, queues=["default"])
