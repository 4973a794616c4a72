"""Running a transition again when PostgreSQL picked it as a deadlock's victim.

A worker recording a success or rescuing an attempt locks the execution, then its job; a
person cancelling or editing the job locks the job, then its executions. When the two meet,
PostgreSQL aborts one transaction and lets the other finish. The worker's loop retries its
step; a request would answer 500. `retried_on_deadlock` retries the service call instead,
from the rows as they are once the other transaction is done.
"""

import functools
import logging

from django.db import OperationalError
from django.db.models import Model

from .. import database

logger = logging.getLogger("jobs.services")

ATTEMPTS = 3
DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE


def is_deadlock(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == DEADLOCK_DETECTED


def retried_on_deadlock(func):
    """Call `func` again (up to ATTEMPTS in all) when it loses a deadlock.

    Only when it runs in a transaction of its own: inside the caller's, the whole of the
    caller's work was rolled back, and the error is the caller's to handle.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for attempt in range(1, ATTEMPTS + 1):
            outermost = not database.connection().in_atomic_block
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if not (outermost and is_deadlock(exc)) or attempt == ATTEMPTS:
                    raise
                logger.info("%s lost a deadlock; trying again", func.__name__)
                # The aborted attempt may have changed the objects in memory: start again
                # from the rows as the winner left them.
                for value in kwargs.values():
                    if isinstance(value, Model):
                        value.refresh_from_db()

    return wrapper
