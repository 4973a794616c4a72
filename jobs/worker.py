"""The worker: one process's loop of materialise, claim, run, record, heartbeat.

One main thread talks to the database (claims, outcomes, heartbeats, rescue); `concurrency`
slot threads run handlers; a listener thread waits on PostgreSQL NOTIFY and wakes the main
thread. A handler that outlives its timeout is abandoned: its attempt is failed, its slot
thread replaced, and whatever it returns later is ignored.
"""

import logging
import os
import queue
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
)
from django.db.models.functions import Now
from django.utils import timezone

from . import engine, wakeup
from .engine import log_fields
from .executor import execute
from .models import Execution, Worker
from .states import ExecutionState

logger = logging.getLogger("jobs.worker")

MAX_DB_BACKOFF = 10.0  # seconds between reconnection attempts, at most


@dataclass
class Running:
    execution: Execution
    cancel_event: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    deadline: float = 0.0
    thread: threading.Thread | None = None


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
    ):
        self.queues = queues
        self.concurrency = concurrency
        self.burst = burst
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.poll_interval = poll_interval or settings.WORKER_POLL_SECONDS
        self.heartbeat_interval = settings.WORKER_HEARTBEAT_SECONDS
        self.grace = settings.WORKER_SHUTDOWN_GRACE_SECONDS

        self.worker: Worker | None = None
        self.running: dict[int, Running] = {}
        self.work: queue.Queue[Running | None] = queue.Queue()
        self.results: queue.Queue[tuple[Running, engine.Outcome]] = queue.Queue()
        self.pending: list[engine.Outcome] = []  # outcomes not yet written (database away)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.check_cancels = threading.Event()
        self.refresh_due = threading.Event()  # a job may have been added: re-read next_due
        self.next_due = None  # when the next active job falls due, as last read
        self.slots: list[threading.Thread] = []
        self.abandoned: set[threading.Thread] = set()
        self.listener: threading.Thread | None = None
        self.last_heartbeat = 0.0
        self.last_maintenance = 0.0
        self.signals_seen = 0
        self.previous_handlers: dict[int, object] = {}

    # --- Lifecycle ----------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the process exit code."""
        self._install_signal_handlers()
        self._retry_database(self._register)
        if self.worker is None:
            return 0  # stopped before the database ever answered
        for _ in range(self.concurrency):
            self._start_slot()
        if connection.vendor == "postgresql" and settings.WORKER_LISTEN:
            self.listener = threading.Thread(target=self._listen, name="listener", daemon=True)
            self.listener.start()
        logger.info(
            "Worker started name=%s queues=%s concurrency=%s burst=%s",
            self.name,
            ",".join(self.queues),
            self.concurrency,
            self.burst,
            extra={"worker": self.name},
        )
        try:
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _register(self) -> None:
        self.worker = Worker.objects.create(
            name=self.name,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=self.queues,
            concurrency=self.concurrency,
            heartbeat_at=Now(),  # the database's clock: see engine.worker_heartbeat
        )
        self.worker.refresh_from_db(fields=["heartbeat_at"])

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
            extra={"worker": self.name},
        )
        self.stopping.set()
        self.wake.set()

    # --- The loop -----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping.is_set():
            busy = self._retry_database(self._tick)
            if self.burst and not busy and not self.running and not self.pending:
                logger.info(
                    "Worker drained the due work (burst) name=%s",
                    self.name,
                    extra={"worker": self.name},
                )
                return
            if not busy:
                self.wake.wait(self._idle_timeout())
            self.wake.clear()

    def _tick(self) -> bool:
        """Do one round of work; return True if there may be more to claim at once."""
        mono = time.monotonic()
        self._collect_results()
        self._enforce_timeouts()
        self._record()
        # Claim first: what a NOTIFY announced should start before anything else is done.
        claimed, more = self._claim()
        if mono - self.last_heartbeat >= self.heartbeat_interval or self.check_cancels.is_set():
            self._heartbeat()
            engine.executions_rescue_stale()
        materialised = 0
        due_now = self.next_due is not None and self.next_due <= timezone.now()
        maintain = due_now or mono - self.last_maintenance >= self.poll_interval
        if maintain:
            materialised = self._materialise()
            claimed_after, more = self._claim()
            claimed += claimed_after
        elif self.refresh_due.is_set():
            self.refresh_due.clear()
            self.next_due = engine.next_job_due()
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
            queued = engine.jobs_materialise()
            total += queued
            if not queued or time.monotonic() - started > self.poll_interval:
                break
        self.next_due = engine.next_job_due()
        self.last_maintenance = time.monotonic()
        return total

    def _idle_timeout(self) -> float:
        """Sleep until the next poll, or sooner if a job falls due, a timeout expires or a
        heartbeat is due."""
        # Heartbeats come from this loop: sleeping past one would let the lease lapse while a
        # long job runs, and a peer would rescue and re-run it.
        next_heartbeat = self.last_heartbeat + self.heartbeat_interval - time.monotonic()
        timeout = min(self.poll_interval, max(0.0, next_heartbeat))
        if self.next_due is not None:
            timeout = min(timeout, max(0.0, (self.next_due - timezone.now()).total_seconds()))
        if self.running:
            soonest = min(r.deadline for r in self.running.values())
            timeout = min(timeout, max(0.0, soonest - time.monotonic()))
        return timeout

    def _retry_database(self, step, *, give_up_after: float | None = None):
        """Run `step`; while the database is away, log, back off, reconnect and retry.

        Returns None instead when the worker is asked to stop meanwhile (or, with
        `give_up_after`, when that many seconds passed).
        """
        delay = 0.5
        started = time.monotonic()
        while True:
            try:
                return step()
            except (OperationalError, InterfaceError) as exc:
                # The server is away or the connection broke: worth waiting out. Other
                # database errors (a missing table, bad SQL) are bugs or a deploy without
                # migrations, and stop the worker with the error instead.
                logger.warning(
                    "Database unavailable, retrying in %.1f s: %s",
                    delay,
                    str(exc).strip(),
                    extra={"worker": self.name},
                )
                connection.close()
                if give_up_after is None:
                    if self.stopping.wait(delay):
                        return None
                else:
                    time.sleep(delay)
                    if time.monotonic() - started > give_up_after:
                        logger.error(
                            "Database still unavailable; giving up on %s",
                            step.__name__,
                            extra={"worker": self.name},
                        )
                        return None
                delay = min(delay * 2, MAX_DB_BACKOFF)

    # --- Claim and run ------------------------------------------------------------------

    def _claim(self) -> tuple[int, bool]:
        """Claim into the free slots; return how many, and whether every free slot was filled
        (then more may be waiting)."""
        free = self.concurrency - len(self.running)
        if free <= 0 or self.stopping.is_set():
            return 0, False
        claimed = engine.executions_claim(worker=self.worker, queues=self.queues, limit=free)
        for execution in claimed:
            job = execution.job
            item = Running(execution)
            item.deadline = item.started + job.effective_timeout
            self.running[execution.pk] = item
            if logger.isEnabledFor(logging.INFO):
                logger.info(
                    "Execution started job=%s handler=%s job_id=%s execution_id=%s attempt=%s",
                    job.name,
                    job.handler,
                    job.pk,
                    execution.pk,
                    execution.attempt,
                    extra=log_fields(execution, worker=self.name),
                )
            self.work.put(item)
        return len(claimed), len(claimed) == free

    def _start_slot(self) -> None:
        thread = threading.Thread(target=self._slot, name=f"slot-{len(self.slots)}", daemon=True)
        self.slots.append(thread)
        thread.start()

    def _slot(self) -> None:
        me = threading.current_thread()
        while True:
            item = self.work.get()
            if item is None:
                return
            item.thread = me
            close_old_connections()
            try:
                outcome = execute(item.execution, item.cancel_event)
            finally:
                close_old_connections()
            self.results.put((item, outcome))
            self.wake.set()
            if me in self.abandoned:
                return  # replaced after a timeout; its successor has the slot

    def _collect_results(self) -> None:
        while True:
            try:
                item, outcome = self.results.get_nowait()
            except queue.Empty:
                return
            if self.running.get(item.execution.pk) is not item:
                continue  # timed out earlier and already recorded
            del self.running[item.execution.pk]
            if item.cancel_event.is_set() and outcome.state == ExecutionState.CANCELLED:
                outcome.error = outcome.error or "Cancelled while running."
            self._log_outcome(item, outcome)
            self.pending.append(outcome)

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for execution_id, item in list(self.running.items()):
            if now < item.deadline:
                continue
            timeout = item.execution.job.effective_timeout
            item.cancel_event.set()
            del self.running[execution_id]
            outcome = engine.Outcome(
                item.execution,
                ExecutionState.FAILED,
                error=f"Timed out after {timeout} s; the handler was abandoned.",
            )
            self._log_outcome(item, outcome)
            self.pending.append(outcome)
            if item.thread is not None:
                self.abandoned.add(item.thread)
                self._start_slot()

    def _record(self) -> int:
        if not self.pending:
            return 0
        outcomes, self.pending = self.pending, []
        try:
            engine.outcomes_record(worker=self.worker, outcomes=outcomes)
        except DatabaseError:
            self.pending = outcomes + self.pending  # written once the database is back
            raise
        return len(outcomes)

    def _log_outcome(self, item: Running, outcome: engine.Outcome) -> None:
        execution = item.execution
        duration = time.monotonic() - item.started
        level = logging.INFO if outcome.state == ExecutionState.SUCCEEDED else logging.WARNING
        if not logger.isEnabledFor(level):
            return
        logger.log(
            level,
            "Execution %s job=%s job_id=%s execution_id=%s attempt=%s duration=%.3fs%s",
            outcome.state,
            execution.job.name,
            execution.job_id,
            execution.pk,
            execution.attempt,
            duration,
            f" error={outcome.error!r}" if outcome.error else "",
            extra=log_fields(execution, worker=self.name, duration=round(duration, 6)),
        )

    # --- Heartbeat and cancellation ----------------------------------------------------

    def _heartbeat(self) -> None:
        self.check_cancels.clear()
        held = engine.worker_heartbeat(worker=self.worker)
        self.last_heartbeat = time.monotonic()
        for execution_id, cancel_requested in held.items():
            item = self.running.get(execution_id)
            if item is not None and cancel_requested and not item.cancel_event.is_set():
                logger.info(
                    "Cancelling running execution execution_id=%s",
                    execution_id,
                    extra=log_fields(item.execution, worker=self.name),
                )
                item.cancel_event.set()
        # Held in the database but not running here: a claim whose reply never arrived.
        lost = [pk for pk in held if pk not in self.running]
        recorded = {o.execution.pk for o in self.pending}
        lost = [pk for pk in lost if pk not in recorded]
        if lost:
            logger.warning(
                "Releasing executions claimed without reply ids=%s",
                lost,
                extra={"execution_ids": lost, "worker": self.name},
            )
            engine.executions_release(worker=self.worker, ids=lost)

    def _listen(self) -> None:
        """Wake the main thread on NOTIFY; reconnect with backoff when the server goes away."""
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        delay = 0.5
        while not self.stopping.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {wakeup.CHANNEL}")
                    delay = 0.5
                    self.refresh_due.set()  # we may have missed notifications while away
                    self.wake.set()
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            if self._heed(*wakeup.parse(note.payload)):
                                self.wake.set()
            except psycopg.Error as exc:
                logger.warning(
                    "Listener lost its connection, retrying in %.1f s: %s",
                    delay,
                    exc,
                    extra={"worker": self.name},
                )
                self.stopping.wait(delay)
                delay = min(delay * 2, MAX_DB_BACKOFF)

    def _heed(self, kind: str, value: str) -> bool:
        """Note what a notification asks of this worker; return True if it should wake."""
        if kind == wakeup.CANCEL:
            self.check_cancels.set()
            return True
        if value not in self.queues:
            return False
        if kind == wakeup.SCHEDULE:
            self.refresh_due.set()
        return kind in (wakeup.QUEUED, wakeup.SCHEDULE)

    # --- Shutdown -----------------------------------------------------------------------

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.grace
        while self.running and time.monotonic() < deadline:
            self.wake.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            self.wake.clear()
            self._collect_results()
            self._enforce_timeouts()
            # Keep the lease while finishing: past it, a peer rescues and re-runs these.
            if time.monotonic() - self.last_heartbeat >= self.heartbeat_interval:
                self._shutdown_heartbeat()
        for item in self.running.values():
            item.cancel_event.set()
        leftover = list(self.running)

        def finish() -> bool:
            self._record()
            if leftover:
                released = engine.executions_release(worker=self.worker, ids=leftover)
                logger.warning(
                    "Released %d unfinished executions to the queue",
                    released,
                    extra={"execution_ids": leftover, "worker": self.name},
                )
            if self.worker is not None:
                engine.worker_stop(worker=self.worker)
            return True

        self.stopping.set()
        try:
            # Past the lease our executions are rescued by others anyway.
            self._retry_database(finish, give_up_after=settings.WORKER_LEASE_SECONDS)
        finally:
            for _ in self.slots:
                self.work.put(None)
            self._restore_signal_handlers()
            logger.info("Worker stopped name=%s", self.name, extra={"worker": self.name})

    def _shutdown_heartbeat(self) -> None:
        """Heartbeat once; while the database is away, go on waiting for the handlers."""
        try:
            self._heartbeat()
        except DatabaseError as exc:
            logger.warning(
                "Heartbeat failed during shutdown: %s",
                str(exc).strip(),
                extra={"worker": self.name},
            )
            connection.close()
            self.last_heartbeat = time.monotonic()  # try again an interval later
