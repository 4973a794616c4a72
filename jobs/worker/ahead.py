"""Claiming ahead: executions a worker claims beyond its free slots, so that a slot that
finishes starts its next at once while the main thread records and claims.

Only from queues without limits (the worker's last claim found them plain): in a limited
queue a claim is a start, counted against the limit. What waits is held like what runs (the
lease keeps it, a rescue fails it); its started_at is its claim's until a slot starts it,
then that moment's (Slots.start, recorded with its outcome); claimed_at keeps the claim's.
It goes back to the queue, unstarted, when it waits past WORKER_PREFETCH_WAIT_SECONDS
(every slot busy with longer runs), and when the slots hold (Slots.hold): the worker is
stopping, a queue of its was paused or had its limits changed, or a handler outlived its
timeout. A pause stops claims at its commit; one claimed ahead before it that a slot takes
in the instant before the worker hears the pause still runs.
"""

import logging
import math
import threading
import time

from .. import conf, engine

logger = logging.getLogger("jobs.worker")

# Runs at least this share of WORKER_PREFETCH_WAIT_SECONDS long (a moving average) make
# claiming ahead pointless: what waits behind them would mostly be given back.
LONG_RUN_SHARE = 0.5


class ClaimAhead:
    def __init__(self, process, *, prefetch: int):
        self.process = process
        self.wait = conf.WORKER_PREFETCH_WAIT_SECONDS
        self.prefetch = prefetch if self.wait > 0 else 0
        self.held = False  # a wait ran out: none ahead until a slot frees
        self.run_seconds: float | None = None  # moving average of the handlers' runs
        self.unreleased: list[int] = []  # taken back from the slots; release not written
        self.limits_changed = threading.Event()  # set by the listener (limits:<queue>)
        self.hold_tended = -math.inf  # the last Slots.held_before given back

    def room(self) -> int:
        """How many to claim ahead now."""
        process = self.process
        slots = process.slots
        if not process.plain or self.held or slots.abandoned_count:
            return 0
        if self.run_seconds is not None and self.run_seconds >= self.wait * LONG_RUN_SHARE:
            return 0
        # The bound is on what waits, not on each claim: what is already held past the slots
        # counts against it.
        held_ahead = max(0, len(slots.running) - process.concurrency)
        return max(0, self.bound() - held_ahead)

    def bound(self) -> int:
        """At most `prefetch`, and no more than the slots can start within the wait at the
        handlers' recent pace (before any run, one per slot): more would only go back."""
        concurrency = self.process.concurrency
        if self.run_seconds is None:
            return min(self.prefetch, concurrency)
        startable = concurrency * self.wait / max(self.run_seconds, 1e-6)
        return min(self.prefetch, int(startable))

    def ran(self, seconds: float) -> None:
        """A slot turned over after a run of `seconds`."""
        self.held = False
        last = self.run_seconds
        self.run_seconds = seconds if last is None else 0.8 * last + 0.2 * seconds

    def limits_heard(self) -> None:
        """From the listener: a queue of ours was paused or had its limits changed."""
        self.process.slots.hold()
        self.limits_changed.set()

    def tend(self) -> None:
        """Each round, before the claim: give back what must not start here."""
        process, slots = self.process, self.process.slots
        if self.unreleased:
            ids, self.unreleased = self.unreleased, []
            self._release(ids, "stopped by the fence, or left from a failed release")
        if self.limits_changed.is_set():
            self.limits_changed.clear()
            process.plain = False  # the next claim is the full one: it sees the change
        hold = slots.held_before
        if hold > self.hold_tended:
            self.hold_tended = hold
            self.give_back("a queue's limits changed or a handler timed out", handed_by=hold)
        self.give_back("it waited for a slot", handed_by=time.monotonic() - self.wait)

    def give_back(self, reason: str, *, handed_by: float = math.inf) -> None:
        """Release to the queue what was handed to the slots by `handed_by`, unstarted."""
        withdrawn = self.process.slots.withdraw(handed_by=handed_by)
        if withdrawn:
            self.held = True
            self._release([item.execution.id for item in withdrawn], reason)

    def wake_at(self) -> float | None:
        """When (monotonic) the oldest one waiting will have waited too long."""
        waiting = self.process.slots.waiting()
        return waiting[0].handed + self.wait if waiting else None

    def _release(self, ids: list[int], reason: str) -> None:
        process = self.process
        try:
            released = engine.executions_release(process.db(), worker_id=process.worker_id, ids=ids)
        except Exception:
            self.unreleased += ids  # the next round tries again (or the shutdown)
            raise
        logger.info(
            "Released %d executions claimed ahead: %s",
            released,
            reason,
            extra={"execution_ids": ids, **process.log_extra},
        )
