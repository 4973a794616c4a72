"""The lease: heartbeats that keep what the worker holds, rescue of what others lost, the
cancellations and lost claims a heartbeat brings to light, and the fence (fence.py) that
stops the worker when its heartbeats stop getting through."""

import logging
import time

from .. import engine, partitions
from ..engine import log_fields
from .fence import Fence

logger = logging.getLogger("jobs.worker")


class Lease:
    """Heartbeat for the worker `process` every `interval` seconds."""

    def __init__(self, process, *, interval: float):
        self.process = process
        self.interval = interval
        self.last = 0.0
        self.fence = Fence(process)

    def renewed(self, sent: float) -> None:
        """The lease was written by a request sent at `sent` (monotonic): registered, or a
        heartbeat got through."""
        self.last = time.monotonic()
        self.fence.renewed_at(sent)

    def due(self) -> bool:
        return time.monotonic() - self.last >= self.interval

    def seconds_left(self) -> float:
        return self.last + self.interval - time.monotonic()

    def renew(self) -> None:
        """Heartbeat; stop handlers asked to stop; release claims whose reply was lost."""
        process = self.process
        sent = time.monotonic()
        held = engine.worker_heartbeat(
            process.db(),
            worker_id=process.worker_id,
            abandoned_threads=process.slots.abandoned_count,
        )
        self.renewed(sent)
        running = process.slots.running
        for execution_id, cancel_requested in held.items():
            item = running.get(execution_id)
            if item is not None and cancel_requested and not item.cancel_event.is_set():
                logger.info(
                    "Cancelling running execution execution_id=%s",
                    execution_id,
                    extra=log_fields(item.execution, worker=process.name),
                )
                item.cancel_event.set()
        # Held in the database but not running here: a claim whose reply never arrived.
        recorded = {o.execution.id for o in process.pending}
        lost = [pk for pk in held if pk not in running and pk not in recorded]
        if lost:
            logger.warning(
                "Releasing executions claimed without reply ids=%s",
                lost,
                extra={"execution_ids": lost, "worker": process.name},
            )
            engine.executions_release(process.db(), worker_id=process.worker_id, ids=lost)

    def rescue(self) -> int:
        """Fail the attempts of workers whose lease lapsed, and make the history's months
        ahead of need (hourly): the upkeep any live worker does."""
        partitions.tend()
        return engine.executions_rescue_stale(self.process.db())
