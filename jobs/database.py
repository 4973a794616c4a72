"""The database that holds the scheduler's tables, for the code that names one: raw SQL,
transactions and their commit hooks (the ORM finds it through the router by itself).

That is `default`, unless the settings give the scheduler a database of its own
(SCHEDULER_DATABASE_URL: the `scheduler` alias, scheduler_project.routers): then a
transaction of the application's, on `default`, no longer holds an enqueue.
"""

from django.db import connections, router, transaction

from .models import Job


def alias() -> str:
    """The alias of the scheduler's database."""
    return router.db_for_write(Job)


def connection():
    """Django's connection to it."""
    return connections[alias()]


def cursor():
    """A cursor on Django's connection to it."""
    return connection().cursor()


def atomic(*, durable: bool = False):
    """A transaction (or savepoint) on it; with `durable`, a transaction of its own that
    commits when the block ends (never a savepoint in the caller's)."""
    return transaction.atomic(using=alias(), durable=durable)


def on_commit(callback) -> None:
    """Call `callback` once its current transaction commits (at once outside one)."""
    transaction.on_commit(callback, using=alias())
