"""The listener: a thread that waits on PostgreSQL NOTIFY and wakes the worker's loop."""

import logging
import threading

import psycopg

from ..engine import connect, wakeup
from .retry import MAX_BACKOFF_SECONDS

logger = logging.getLogger("jobs.worker")


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
                with connect() as conn:
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
