"""The worker: one process's loop of materialise, claim, run, record, heartbeat.

The main thread talks to the database on a connection of its own (claims, outcomes,
heartbeats, rescue); slot threads run handlers (slots); a listener thread waits on
PostgreSQL NOTIFY and wakes the main thread (listener); the lease keeps what it holds.
"""

import logging
import os
import signal
import socket
import threading
import time
from datetime import timedelta

from django.db import connections
from django.utils import timezone

from .. import conf, engine
from ..engine import wakeup
from ..states import ExecutionState
from . import run_log
from .ahead import ClaimAhead
from .execution_log import log_outcome, log_started
from .lease import Lease
from .listener import Listener, listening
from .retry import TRANSIENT, retry_database
from .slots import Running, Slots

logger = logging.getLogger("jobs.worker")


class WorkerProcess:
    """Run jobs from `queues` with `concurrency` slots until stopped (or drained, in burst)."""

    def __init__(
        self,
        *,
        queues: list[str],
        concurrency: int = 1,
        burst: bool = False,
        name: str | None = None,
        poll_interval: float | None = None,
        prefetch: int | None = None,
    ):
        self.queues = queues
        self.concurrency = concurrency
        self.burst = burst
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.poll_interval = poll_interval or conf.WORKER_POLL_SECONDS
        self.grace = conf.WORKER_SHUTDOWN_GRACE_SECONDS
        self.log_extra = {"worker": self.name}

        self.worker_id: int | None = None
        self._db = None  # the main thread's connection, opened on first use
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.slots = Slots(
            concurrency,
            on_finish=self.wake.set,
            on_start=lambda item: log_started(item.execution, worker=self.name),
        )
        self.lease = Lease(self, interval=conf.WORKER_HEARTBEAT_SECONDS)
        self.pending: list[engine.Outcome] = []  # outcomes not yet written (database away)
        self.check_cancels = threading.Event()
        self.refresh_due = threading.Event()  # a job may have been added: re-read next_due
        self.next_due = None  # when the next active job falls due, as last read
        self.next_start = None  # when a rate-limited queue of ours may start its next
        self.plain = False  # our queues had no limits and no keyed work at the last claim
        self.last_maintenance = 0.0
        self.signals_seen = 0
        self.ahead = ClaimAhead(
            self, prefetch=conf.WORKER_PREFETCH if prefetch is None else prefetch
        )
        self.previous_handlers: dict[int, object] = {}

    @property
    def running(self) -> dict[int, Running]:
        return self.slots.running

    def db(self):
        """The main thread's own connection, (re)opened when needed."""
        if self._db is None or self._db.closed:
            self._db = engine.connect()
        return self._db

    def _reset_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        # Django's connections too (signals load rows through them): reconnect on next use.
        connections.close_all()

    def _retry(self, step, **kwargs):
        return retry_database(
            step, reset=self._reset_db, stopping=self.stopping, log_extra=self.log_extra, **kwargs
        )

    # --- Lifecycle ----------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the process exit code."""
        self._install_signal_handlers()
        self._retry(self._register)
        if self.worker_id is None:
            return 0  # stopped before the database ever answered
        self.slots.open()
        self.lease.fence.start()
        if listening(self.log_extra):
            Listener(
                heed=self._heed,
                reconnected=self.refresh_due.set,
                wake=self.wake,
                stopping=self.stopping,
                log_extra=self.log_extra,
            ).start()
        logger.info(
            "Worker started name=%s queues=%s concurrency=%s burst=%s",
            self.name,
            ",".join(self.queues),
            self.concurrency,
            self.burst,
            extra=self.log_extra,
        )
        try:
            self._loop()
        finally:
            self._shutdown()
            self._reset_db()
        return 0

    def _register(self) -> None:
        sent = time.monotonic()
        self.worker_id = engine.worker_register(
            self.db(), name=self.name, queues=self.queues, concurrency=self.concurrency
        )
        self.lease.renewed(sent)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # called from another thread: only the main thread can take signals
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous_handlers[sig] = signal.signal(sig, self._on_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self.previous_handlers.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        self.signals_seen += 1
        if self.signals_seen > 1:
            # Second signal: leave now; the lease lets another worker rescue what we hold.
            os.write(2, b"Second signal: exiting at once.\n")
            os._exit(1)
        logger.info(
            "Worker stopping on %s: no new claims, waiting up to %g s for %d running",
            signal.Signals(signum).name,
            self.grace,
            len(self.running),
            extra=self.log_extra,
        )
        self.slots.hold()  # nothing claimed ahead starts now
        self.stopping.set()
        self.wake.set()

    # --- The loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping.is_set():
            busy = self._retry(self._tick)
            # A burst worker leaves when nothing is due, not while a rate limit spaces
            # out what is.
            drained = not (busy or self.running or self.pending or self.next_start)
            if self.burst and drained:
                logger.info(
                    "Worker drained the due work (burst) name=%s", self.name, extra=self.log_extra
                )
                return
            if not busy:
                self.wake.wait(self._idle_timeout())
            self.wake.clear()

    def _tick(self) -> bool:
        """Do one round of work; return True if there may be more to claim at once."""
        mono = time.monotonic()
        self._collect()
        # Claim first: what a NOTIFY announced should start before anything else is done.
        # The outcomes collected are recorded with it (see _claim).
        self.ahead.tend()
        claimed, more = self._claim()
        if self.lease.due() or self.check_cancels.is_set():
            self.check_cancels.clear()
            self.lease.renew()
            self.lease.rescue()
        materialised = 0
        due_now = self.next_due is not None and self.next_due <= timezone.now()
        maintain = due_now or mono - self.last_maintenance >= self.poll_interval
        if maintain:
            materialised = self._materialise()
            claimed_after, more = self._claim()
            claimed += claimed_after
        elif self.refresh_due.is_set():
            self.refresh_due.clear()
            self.next_due = engine.next_job_due(self.db())
        idle = not (claimed or materialised or self.running)
        if self.burst and idle and not maintain:
            # Before a burst worker leaves, it looks for due jobs once more.
            self.last_maintenance = 0.0
            return True
        # A claim that found fewer executions than free slots drained what is due: claiming
        # again at once would only cost a round trip. A finished handler, a NOTIFY or the
        # poll timeout wakes the loop for the next one.
        return more

    def _materialise(self) -> int:
        """Queue what is due, batch after batch for up to a poll interval; return how many."""
        started = time.monotonic()
        self.refresh_due.clear()
        total = 0
        while True:
            queued = engine.jobs_materialise(self.db())
            total += queued
            if not queued or time.monotonic() - started > self.poll_interval:
                break
        self.next_due = engine.next_job_due(self.db())
        self.last_maintenance = time.monotonic()
        return total

    def _idle_timeout(self) -> float:
        """Sleep until the next poll, or sooner if a job falls due, a timeout expires or a
        heartbeat is due."""
        # Heartbeats come from this loop: sleeping past one would let the lease lapse while a
        # long job runs, and a peer would rescue and re-run it.
        timeout = min(self.poll_interval, max(0.0, self.lease.seconds_left()))
        # A rate-limited queue's next start: wake a little early, the claim waits the rest.
        early = (
            self.next_start - timedelta(milliseconds=engine.RATE_WAIT_MS * 0.8)
            if self.next_start
            else None
        )
        for soon in (self.next_due, early):
            if soon is not None:
                timeout = min(timeout, max(0.0, (soon - timezone.now()).total_seconds()))
        if run_log.waiting(self.running.values()):
            timeout = min(timeout, run_log.FLUSH_SECONDS)
        soonest = self.slots.soonest_deadline()
        if soonest is not None:
            timeout = min(timeout, max(0.0, soonest - time.monotonic()))
        give_back = self.ahead.wake_at()  # when one claimed ahead has waited too long
        if give_back is not None:
            timeout = min(timeout, max(0.0, give_back - time.monotonic()))
        return timeout

    # --- Claim, run, record -------------------------------------------------------------

    def _claim(self) -> tuple[int, bool]:
        """Claim into the free slots, and ahead of them (ahead.py); return how many, and
        whether all it asked for came (then more may be waiting)."""
        free, ahead = self.slots.free, self.ahead.room()
        capped = self.slots.at_abandoned_cap(self.log_extra)
        fenced = self.lease.fence.up.is_set()  # cut off: nothing new until a renewal
        if free + ahead <= 0 or self.stopping.is_set() or capped or fenced:
            self._record()
            return 0, False
        # What cannot go in the claim's round trip is recorded first, on its own, so a
        # failed claim never leaves outcomes both written and pending.
        if not engine.recorded_with_claim(self.pending, plain=self.plain):
            self._record()
        outcomes, self.pending = self.pending, []
        sent = time.time_ns()
        try:
            claim = engine.outcomes_record_and_claim(
                self.db(),
                worker_id=self.worker_id,
                outcomes=outcomes,
                queues=self.queues,
                limit=free,
                batch=self.concurrency + self.ahead.prefetch,
                plain=self.plain,
                ahead=ahead,
            )
        except Exception:
            self.pending = outcomes + self.pending  # neither was written: recorded next time
            raise
        # A plain claim asked for the free slots and those ahead; a full one, slots only.
        asked = free + ahead if self.plain and claim.plain else free
        self.next_start, self.plain = claim.next_start_at, claim.plain
        claimed, window = claim.executions, (sent, time.time_ns())
        for execution in claimed:
            self.slots.start(execution, claimed=window)
        if claimed:
            # Give the GIL up now: a slot thread woken by start() would otherwise wait for
            # this loop to block, or for the interpreter's 5 ms switch interval.
            time.sleep(0)
        return len(claimed), bool(claimed) and len(claimed) == asked

    def _collect(self) -> None:
        """Move finished and timed-out executions' outcomes to those to record, and write
        what the handlers logged (run_log)."""
        ended = self.slots.finished() + self.slots.timed_out()
        for item, outcome in ended:
            if item.fenced and outcome.state == ExecutionState.CANCELLED:
                self.ahead.unreleased.append(item.execution.id)  # not a cancel: run it again
                continue
            log_outcome(item, outcome, worker=self.name)
            self.pending.append(outcome)
            self.ahead.ran(time.monotonic() - item.started)
        entries = run_log.pending([item for item, _ in ended], self.running.values())
        try:
            engine.run_logs_append(self.db(), worker_id=self.worker_id, entries=entries)
        except Exception as exc:  # a log is not worth a run: its outcome is still recorded
            logger.warning("Could not write handlers' logs: %s", exc, extra=self.log_extra)

    def _record(self) -> int:
        if not self.pending:
            return 0
        outcomes, self.pending = self.pending, []
        try:
            engine.outcomes_record(self.db(), worker_id=self.worker_id, outcomes=outcomes)
        except Exception:
            self.pending = outcomes + self.pending  # written once the database is back
            raise
        return len(outcomes)

    def _heed(self, kind: str, value: str) -> bool:
        """Note what a notification asks of this worker; return True if it should wake."""
        if kind == wakeup.CANCEL:
            self.check_cancels.set()
            return True
        if value not in self.queues:
            return False
        if kind == wakeup.SCHEDULE:
            self.refresh_due.set()
        if kind == wakeup.LIMITS:
            self.ahead.limits_heard()
        return kind in (wakeup.QUEUED, wakeup.SCHEDULE, wakeup.LIMITS)

    # --- Shutdown -----------------------------------------------------------------------

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.grace
        # What waits for a slot goes back to the queue at once, for other workers to start
        # (with the database away, at the end with the rest).
        self.slots.hold()
        try:
            self.ahead.give_back("the worker is stopping")
        except Exception as exc:
            logger.warning(
                "Could not release what was claimed ahead yet: %s",
                str(exc).strip(),
                extra=self.log_extra,
            )
            self._reset_db()
        while self.running and time.monotonic() < deadline:
            self.wake.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self.wake.clear()
            self._collect()
            # Keep the lease while finishing: past it, a peer rescues and re-runs these.
            if self.lease.due():
                self._shutdown_heartbeat()
        for item in self.running.values():
            item.cancel_event.set()
        leftover = list(self.running) + self.ahead.unreleased

        def finish() -> bool:
            self._record()
            if leftover:
                released = engine.executions_release(
                    self.db(), worker_id=self.worker_id, ids=leftover
                )
                logger.warning(
                    "Released %d unfinished executions to the queue",
                    released,
                    extra={"execution_ids": leftover, **self.log_extra},
                )
            if self.worker_id is not None:
                engine.worker_stop(self.db(), worker_id=self.worker_id)
            return True

        self.stopping.set()
        try:
            # Past the lease our executions are rescued by others anyway.
            self._retry(finish, give_up_after=conf.WORKER_LEASE_SECONDS)
        finally:
            self.slots.close()
            self._restore_signal_handlers()
            logger.info("Worker stopped name=%s", self.name, extra=self.log_extra)

    def _shutdown_heartbeat(self) -> None:
        """Heartbeat once; while the database is away, go on waiting for the handlers."""
        try:
            self.lease.renew()
        except TRANSIENT as exc:
            logger.warning(
                "Heartbeat failed during shutdown: %s", str(exc).strip(), extra=self.log_extra
            )
            self._reset_db()
            self.lease.last = time.monotonic()  # try again an interval later
