"""One helper that runs a worker's database step again after a connection error."""

import logging
import threading
import time

import psycopg
from django.db import InterfaceError, OperationalError

logger = logging.getLogger("jobs.worker")

MAX_BACKOFF_SECONDS = 10.0  # between reconnection attempts, at most
# The server is away, the connection broke, or we lost a deadlock: worth trying again.
# Other database errors (a missing table, bad SQL) are bugs or a deploy without
# migrations, and stop the worker with the error instead.
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)


def retry_database(
    step,
    *,
    reset,
    stopping: threading.Event,
    give_up_after: float | None = None,
    log_extra: dict | None = None,
):
    """Run `step`; while the database is away, log, `reset` the connections, back off and
    retry.

    Returns None instead when `stopping` is set meanwhile (or, with `give_up_after`, when
    that many seconds passed).
    """
    delay = 0.5
    started = time.monotonic()
    while True:
        try:
            return step()
        except TRANSIENT as exc:
            logger.warning(
                "Database unavailable, retrying in %.1f s: %s",
                delay,
                str(exc).strip(),
                extra=log_extra,
            )
            reset()
            if give_up_after is None:
                if stopping.wait(delay):
                    return None
            else:
                time.sleep(delay)
                if time.monotonic() - started > give_up_after:
                    logger.error(
                        "Database still unavailable; giving up on %s",
                        getattr(step, "__name__", step),
                        extra=log_extra,
                    )
                    return None
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
