"""The listener: a thread that waits on PostgreSQL NOTIFY and wakes the worker's loop."""

import logging
import threading

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .. import conf
from ..engine import NETWORK_TIMEOUTS, connect, pooler, wakeup
from .retry import MAX_BACKOFF_SECONDS

logger = logging.getLogger("jobs.worker")


def listening(log_extra: dict) -> bool:
    """Whether the worker should LISTEN: asked to (WORKER_LISTEN), and with somewhere a
    LISTEN holds (not a transaction pooler, unless DATABASE_LISTEN_URL goes around it)."""
    if not conf.WORKER_LISTEN:
        return False
    if conf.DATABASE_LISTEN_URL or not pooler.transaction_pooled():
        return True
    logger.info(
        "Behind a transaction pooler: polling every %s s (DATABASE_LISTEN_URL, a direct "
        "connection, would wake this worker at once)",
        conf.WORKER_POLL_SECONDS,
        extra=log_extra,
    )
    return False


def listen_connection() -> psycopg.Connection:
    """The LISTEN's connection: DATABASE_LISTEN_URL (its own timeouts win), else the
    worker's kind."""
    if conf.DATABASE_LISTEN_URL:
        params = {**NETWORK_TIMEOUTS, **conninfo_to_dict(conf.DATABASE_LISTEN_URL)}
        return psycopg.connect(**params, autocommit=True)
    return connect()


class Listener:
    """LISTEN on the scheduler's channel; tell the worker what each notification asks.

    `heed(kind, value)` returns True when the worker should wake; `reconnected()` is called
    after every (re)connection, since notifications may have been missed while away.
    """

    def __init__(self, *, heed, reconnected, wake: threading.Event, stopping, log_extra):
        self.heed = heed
        self.reconnected = reconnected
        self.wake = wake
        self.stopping = stopping
        self.log_extra = log_extra
        self.thread = threading.Thread(target=self._run, name="listener", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        delay = 0.5
        while not self.stopping.is_set():
            try:
                with listen_connection() as conn:
                    conn.execute(f"LISTEN {wakeup.CHANNEL}")
                    delay = 0.5
                    self.reconnected()
                    self.wake.set()
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if self.heed(*wakeup.parse(note.payload)):
                                self.wake.set()
            except psycopg.Error as exc:
                logger.warning(
                    "Listener lost its connection, retrying in %.1f s: %s",
                    delay,
                    exc,
                    extra=self.log_extra,
                )
                self.stopping.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
