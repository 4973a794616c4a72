"""What a handler logs through `ctx.logger`, and how far it says it got (`ctx.progress`), kept
with its execution.

The handler's thread only appends to memory (a lock and a list): its run is not slowed by the
database. The worker's main loop takes what is pending, every FLUSH_SECONDS while the run
lasts and once more when it ends, and appends it to the row in one statement for all its
runs (engine.run_logs_append): a crash loses at most the last FLUSH_SECONDS. The log is
bounded by EXECUTION_LOG_MAX_BYTES; past it a marker says so and the rest is dropped.
"""

import logging
import threading
import time
import traceback
from datetime import UTC, datetime

from .. import conf

FLUSH_SECONDS = 0.5
CUT_MARKER = "[log cut here: EXECUTION_LOG_MAX_BYTES ({limit} bytes) reached]\n"
PROGRESS_MESSAGE_LENGTH = 200  # Execution.progress_message's max_length


class RunLog:
    """One run's log lines and progress, waiting to be written."""

    def __init__(self, limit: int | None = None):
        self.limit = conf.EXECUTION_LOG_MAX_BYTES if limit is None else limit
        self.lock = threading.Lock()
        self.pending: list[str] = []
        self.kept = 0  # bytes taken so far, written or pending
        self.accepting = self.limit > 0  # False once cut: later lines cost the handler nothing
        self.progress: tuple[int, str] | None = None  # the latest, not yet written
        self.flushed_at = time.monotonic()

    def add(self, level: int, text: str) -> None:
        """Keep one record: its time, level and text (one line per line of text)."""
        if not self.accepting:
            return
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = f"{stamp} {logging.getLevelName(level)} {text}\n"
        encoded = line.encode()
        with self.lock:
            if not self.accepting:
                return  # cut by another thread meanwhile
            room = self.limit - self.kept
            if len(encoded) > room:
                # The part that fits, cut on a character boundary, then the marker.
                line = encoded[:room].decode(errors="ignore")
                line += ("\n" if line else "") + CUT_MARKER.format(limit=self.limit)
                self.accepting = False
            self.kept += len(encoded)
            self.pending.append(line)

    def set_progress(self, percent: float, message: str = "") -> None:
        """The latest progress (HandlerContext.progress checked `percent`)."""
        with self.lock:
            self.progress = (round(percent), str(message)[:PROGRESS_MESSAGE_LENGTH])

    def take(self, *, final: bool = False) -> tuple[str, tuple[int, str] | None] | None:
        """What is pending (text, progress), if it is time to write it (always when `final`),
        else None; what is taken is no longer pending."""
        now = time.monotonic()
        if not final and now - self.flushed_at < FLUSH_SECONDS:
            return None
        with self.lock:
            if not self.pending and self.progress is None:
                return None
            text, progress = "".join(self.pending), self.progress
            self.pending, self.progress = [], None
        self.flushed_at = now
        return text, progress


class RunLogger(logging.LoggerAdapter):
    """`ctx.logger`: the handler's logger, whose records (at the levels it is enabled for)
    are also kept with the execution."""

    def __init__(self, logger: logging.Logger, run_log: RunLog):
        super().__init__(logger, {})
        self.run_log = run_log

    def log(self, level, msg, *args, exc_info=None, **kwargs):
        if self.run_log.accepting and self.isEnabledFor(level):
            text = _message(msg, args)
            if exc_info:
                text += "\n" + _traceback(exc_info)
            self.run_log.add(level, text)
        self.logger.log(level, msg, *args, exc_info=exc_info, **kwargs)


def _traceback(exc_info) -> str:
    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(exc_info)).rstrip()
    if isinstance(exc_info, tuple):
        return "".join(traceback.format_exception(*exc_info)).rstrip()
    return traceback.format_exc().rstrip()


def _message(msg, args) -> str:
    try:
        return str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        return " ".join(str(part) for part in (msg, *args))


def pending(ended, running) -> list[tuple[int, str, tuple[int, str] | None]]:
    """What to write now (engine.run_logs_append): all that runs that `ended` left, and
    what running ones have gathered for FLUSH_SECONDS."""
    entries = []
    for items, final in ((ended, True), (running, False)):
        for item in items:
            taken = item.log.take(final=final)
            if taken is not None:
                entries.append((item.execution.id, *taken))
    return entries


def waiting(running) -> bool:
    """Whether a running handler has logged or reported progress not yet written (read
    without the lock: a stale answer only moves the write to the next round)."""
    return any(item.log.pending or item.log.progress is not None for item in running)
