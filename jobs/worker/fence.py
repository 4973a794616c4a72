"""Fencing: a worker that cannot renew its lease stops before another worker takes over.

Past WORKER_LEASE_SECONDS without a heartbeat, live workers rescue what this one holds and
run it again. A worker cut off from the database (a network partition, a stalled
connection) cannot know that is coming, but it can count: once its last successful renewal
is FENCE_SHARE of the lease old, it stops claiming, asks its running handlers to stop (the
cooperative cancel they already honour: `ctx.sleep`, `ctx.cancelled`) and says so in its
log, so that when the rescue comes the old runs have ended, or are ending, rather than
running twice. Its late results are dropped by the engine anyway (every write is
conditional on the worker still holding the row). A handler stopped by the fence has not
been cancelled by anyone: its execution goes back to the queue, same attempt, as at a
graceful shutdown (if no rescue took it meanwhile). The first renewal that succeeds lifts
the fence, and the worker claims again.

The watch runs in a thread of its own: the main thread, which heartbeats, may itself be
the one stuck on the dead connection.
"""

import logging
import threading
import time

from .. import conf

logger = logging.getLogger("jobs.worker")

# The share of WORKER_LEASE_SECONDS a worker may go without a renewal before it fences
# itself: the rest is the margin its handlers get to stop before a rescue.
FENCE_SHARE = 0.7
CHECK_SECONDS = 0.25


class Fence:
    def __init__(self, process):
        self.process = process
        # When the last renewal that got through was sent (monotonic clock): the database
        # stamps the lease as the request arrives, so the count starts no later than it.
        self.renewed = time.monotonic()
        self.up = threading.Event()  # set while the worker is fenced
        # Raising (the watch thread) and lifting (a renewal, in the main thread) each read
        # and change `renewed` and `up` together.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def limit(self) -> float:
        return conf.WORKER_LEASE_SECONDS * FENCE_SHARE

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="fence", daemon=True)
        self._thread.start()

    def renewed_at(self, sent: float) -> None:
        """A renewal sent at `sent` (monotonic) got through: lift the fence if it was up."""
        with self._lock:
            self.renewed = max(self.renewed, sent)
            lifted = self.up.is_set()
            self.up.clear()
        if lifted:
            logger.warning(
                "Worker lease renewed: fence lifted, claiming again name=%s",
                self.process.name,
                extra=self.process.log_extra,
            )

    def _watch(self) -> None:
        stopping = self.process.stopping
        while not stopping.wait(CHECK_SECONDS):
            with self._lock:
                silent = time.monotonic() - self.renewed
                raise_now = silent >= self.limit and not self.up.is_set()
                if raise_now:
                    self.up.set()
            if raise_now:
                self._settle(self._raise(silent))

    def _raise(self, silent: float) -> list:
        """Fence (`up` is set): every handler asked to stop; return those running."""
        # One C-level copy under the GIL: consistent while the main thread changes the dict.
        running = list(self.process.slots.running.values())
        for item in running:
            item.fenced = True
            item.cancel_event.set()
        logger.error(
            "Worker fenced: its lease was not renewed for %.1f s (WORKER_LEASE_SECONDS=%g); "
            "stopped claiming and asked its %d running handlers to stop name=%s",
            silent,
            conf.WORKER_LEASE_SECONDS,
            len(running),
            self.process.name,
            extra={
                **self.process.log_extra,
                "fenced_executions": [i.execution.id for i in running],
            },
        )
        return running

    def _settle(self, running: list) -> None:
        """Wait, at most until the lease ends, for the fenced handlers to return; say how
        it went (what still runs then will be run again by the worker that rescues it)."""
        lease_ends = self.renewed + conf.WORKER_LEASE_SECONDS
        stopping = self.process.stopping
        while time.monotonic() < lease_ends and self.up.is_set():
            # Withdrawn: claimed ahead and handed back unstarted (ahead.give_back).
            if all(item.returned or item.withdrawn for item in running):
                logger.warning(
                    "Worker fenced: all %d of its handlers stopped, %.1f s before its lease "
                    "ends name=%s",
                    len(running),
                    lease_ends - time.monotonic(),
                    self.process.name,
                    extra=self.process.log_extra,
                )
                return
            if stopping.wait(CHECK_SECONDS):
                return
        left = [item.execution.id for item in running if not (item.returned or item.withdrawn)]
        if left and self.up.is_set():
            logger.error(
                "Worker fenced: %d handlers still running as its lease ends (they ignore "
                "cancellation); their executions will be rescued and run again ids=%s",
                len(left),
                left,
                extra={**self.process.log_extra, "execution_ids": left},
            )
