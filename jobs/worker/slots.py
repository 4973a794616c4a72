"""Slots: the threads that run handlers, each execution under its timeout.

The worker's main thread hands claimed executions to `Slots.start`, and takes their
outcomes back with `finished` and `timed_out`. It may hand over more than there are slots:
those claimed ahead wait, in the order given, for the next slot to free (`waiting`), and
can be taken back before they start (`withdraw`). Their timeout counts from their start.
After `hold` no slot starts one handed over before it (the worker is stopping, a queue was
paused, or a handler outlived its timeout): the main thread gives them back.

A handler that outlives its timeout is abandoned: it is asked to stop, its slot thread
replaced, and whatever it returns later is ignored. Python cannot kill a thread, so an
abandoned one lives on until its handler returns; `abandoned_count` says how many do, and
the worker stops claiming while they reach WORKER_MAX_ABANDONED_THREADS, so that a handler
stuck for hours cannot make threads (and their sockets) pile up.
"""

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import close_old_connections
from django.utils import timezone

from .. import conf, tracing
from ..engine import ExecutionRow, Outcome
from ..states import ErrorCode, ExecutionState
from .executor import execute
from .run_log import RunLog

logger = logging.getLogger("jobs.worker")


@dataclass
class Running:
    execution: ExecutionRow
    cancel_event: threading.Event = field(default_factory=threading.Event)
    handed: float = field(default_factory=time.monotonic)  # to the slots (monotonic clock)
    started: float = math.inf  # by a slot; its timeout counts from then
    # Handed over with every slot taken (claimed ahead): it waits, so the moment a slot
    # starts it is recorded as its started_at. Anything else starts as it is claimed, and
    # keeps the claim's time (the database's clock under the claim's locks).
    ahead: bool = False
    started_at: datetime | None = None
    claimed: tuple[int, int] = (0, 0)  # the claim's request and answer, ns (jobs.tracing)
    trace_link: str = ""  # for its retry, should it fail (jobs.tracing.link_for)
    deadline: float = math.inf
    thread: threading.Thread | None = None  # the slot running it; None while it waits
    # Set under Slots.lock: the handler returned (its outcome stands), or it was abandoned
    # at its timeout (its thread ends when it returns), or it was withdrawn before it
    # started. Whichever comes first wins.
    returned: bool = False
    abandoned: bool = False
    withdrawn: bool = False
    fenced: bool = False  # asked to stop by the fence (fence.py): released, not cancelled
    log: RunLog = field(default_factory=RunLog)  # what its handler logs, until written


class Slots:
    """`concurrency` threads running handlers; `on_finish` is called from a slot thread
    whenever an outcome is ready."""

    def __init__(self, concurrency: int, *, on_finish, on_start=None):
        self.concurrency = concurrency
        self.on_finish = on_finish
        self.on_start = on_start  # called from the slot thread as a handler starts
        self.running: dict[int, Running] = {}
        # SimpleQueue (C, no Condition): a hand-over costs the main thread one lock release,
        # not a Python-level notify, and a slot wakes sooner.
        self.work: queue.SimpleQueue[Running | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[tuple[Running, Outcome]] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []  # the slot threads that take work
        self.abandoned: set[threading.Thread] = set()  # left running a timed-out handler
        self.lock = threading.Lock()
        self.spawned = 0
        self.claims_held = False  # stopped claiming at WORKER_MAX_ABANDONED_THREADS
        # What was handed over before this (monotonic) does not start (hold).
        self.held_before = -math.inf

    @property
    def free(self) -> int:
        """Slots with nothing to run, neither running nor waiting."""
        return max(0, self.concurrency - len(self.running))

    def waiting(self) -> list[Running]:
        """The executions handed over that no slot has started yet, oldest first."""
        with self.lock:
            return [item for item in self.running.values() if item.thread is None]

    def hold(self) -> None:
        """Start nothing handed over until now (any thread may call it, a signal handler
        too: it only sets an attribute). The main thread withdraws it."""
        self.held_before = time.monotonic()

    def withdraw(self, *, handed_by: float = math.inf) -> list[Running]:
        """Take back the executions handed over by `handed_by` (monotonic) that no slot has
        started: they will not run here."""
        with self.lock:
            taken = [
                item
                for item in self.running.values()
                if item.thread is None and item.handed <= handed_by
            ]
            for item in taken:
                item.withdrawn = True
                del self.running[item.execution.id]
        return taken

    @property
    def abandoned_count(self) -> int:
        """How many abandoned handler threads are still running."""
        with self.lock:
            return len(self.abandoned)

    def open(self) -> None:
        for _ in range(self.concurrency):
            self._add_thread()

    def close(self) -> None:
        """Let the slot threads end once their handlers return."""
        for _ in self.threads:
            self.work.put(None)

    def start(self, execution: ExecutionRow, *, claimed: tuple[int, int] = (0, 0)) -> Running:
        """Hand `execution` to the next free slot."""
        item = Running(execution, ahead=len(self.running) >= self.concurrency, claimed=claimed)
        self.running[execution.id] = item
        self.work.put(item)
        return item

    def finished(self) -> list[tuple[Running, Outcome]]:
        """Take the outcomes of the handlers that returned since the last call."""
        done = []
        while True:
            try:
                item, outcome = self.results.get_nowait()
            except queue.Empty:
                return done
            if self.running.get(item.execution.id) is not item:
                continue  # timed out earlier and already recorded
            del self.running[item.execution.id]
            if item.cancel_event.is_set() and outcome.state == ExecutionState.CANCELLED:
                outcome.error = outcome.error or "Cancelled while running."
            done.append((item, outcome))

    def timed_out(self) -> list[tuple[Running, Outcome]]:
        """Abandon the handlers past their deadline; return their failed outcomes."""
        now = time.monotonic()
        late = []
        for execution_id, item in list(self.running.items()):
            if now < item.deadline:
                continue
            with self.lock:
                if item.returned:
                    continue  # it returned just now: `finished` takes its outcome
                item.abandoned = True
                # Started, so it has a thread. Its replacement must not start what waits:
                # it could time out the same way (WORKER_MAX_ABANDONED_THREADS).
                self.held_before = now
                self.abandoned.add(item.thread)
                self.threads.remove(item.thread)
            timeout = item.execution.job.effective_timeout
            item.cancel_event.set()
            del self.running[execution_id]
            outcome = Outcome(
                item.execution,
                ExecutionState.FAILED,
                error=f"Timed out after {timeout} s; the handler was abandoned.",
                error_code=ErrorCode.TIMEOUT,
                started_at=item.started_at,
                trace_link=item.trace_link,
            )
            late.append((item, outcome))
            self._add_thread()
        return late

    def at_abandoned_cap(self, log_extra: dict) -> bool:
        """Return True while abandoned handler threads are at WORKER_MAX_ABANDONED_THREADS.

        Each timed-out handler leaves a thread (and whatever it holds: a socket, a
        connection) running; claiming more work that times out the same way would pile them
        up without end. Logged once when claiming stops and once when it resumes. Handlers
        running when the cap is reached may time out too: a worker of concurrency N holds at
        most cap + N - 1 abandoned threads.
        """
        abandoned = self.abandoned_count
        # 0 would stop the worker for good before its first timeout: read it as 1.
        cap = max(1, conf.WORKER_MAX_ABANDONED_THREADS)
        held = abandoned >= cap
        if held and not self.claims_held:
            logger.warning(
                "Worker stopped claiming: %d abandoned handler threads still run "
                "(WORKER_MAX_ABANDONED_THREADS=%d); it resumes as they end",
                abandoned,
                cap,
                extra={"abandoned_threads": abandoned, **log_extra},
            )
        elif self.claims_held and not held:
            logger.info(
                "Worker resumed claiming: %d abandoned handler threads still run",
                abandoned,
                extra={"abandoned_threads": abandoned, **log_extra},
            )
        self.claims_held = held
        return held

    def soonest_deadline(self) -> float | None:
        return min((r.deadline for r in self.running.values()), default=None)

    def _add_thread(self) -> None:
        thread = threading.Thread(target=self._run, name=f"slot-{self.spawned}", daemon=True)
        self.spawned += 1
        self.threads.append(thread)
        thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            item = self.work.get()
            if item is None:
                return
            with self.lock:
                if item.withdrawn or item.handed <= self.held_before:
                    continue  # taken back, or to be (it waits, unstarted, for the main thread)
                item.thread = me
                item.started = time.monotonic()
                if item.ahead:
                    item.started_at = timezone.now()
                item.deadline = item.started + item.execution.job.effective_timeout
            if item.cancel_event.is_set():
                # Asked to stop while it waited for this slot: it never starts.
                outcome = Outcome(
                    item.execution, ExecutionState.CANCELLED, error="Cancelled before it started."
                )
            else:
                if self.on_start is not None:
                    self.on_start(item)
                with tracing.attempt_spans(item.execution, claimed=item.claimed) as span:
                    item.trace_link = tracing.link_for(item.execution, span)
                    outcome = self._execute(item)
                    tracing.ended(span, outcome)
                outcome.started_at = item.started_at
                outcome.trace_link = item.trace_link
            with self.lock:
                item.returned = True
                abandoned = item.abandoned
                self.abandoned.discard(me)
            if abandoned:
                # Replaced at the timeout: its successor has the slot. One fewer abandoned
                # thread may let the worker claim again, so it is woken.
                self.on_finish()
                return
            self.results.put((item, outcome))
            self.on_finish()

    @staticmethod
    def _execute(item: Running) -> Outcome:
        # Handlers use the ORM: a connection dropped meanwhile is replaced first.
        close_old_connections()
        try:
            return execute(item.execution, item.cancel_event, item.log)
        finally:
            close_old_connections()
