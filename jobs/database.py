"""The database that holds the scheduler's tables, for the code that names one: raw SQL,
transactions and their commit hooks (the ORM finds it through the router by itself).

That is `default`, unless the settings give the scheduler a database of its own
(SCHEDULER_DATABASE_URL: the `scheduler` alias, scheduler_project.routers): then a
transaction of the application's, on `default`, no longer holds an enqueue.
"""

from django.db import connections, router, transaction

from .models import Job


def alias() -> str:
    return router.db_for_write(Job)


def connection():
    return connections[alias()]


def cursor():
    return connection().cursor()


def atomic():
    return transaction.atomic(using=alias())


def on_commit(callback) -> None:
    transaction.on_commit(callback, using=alias())
