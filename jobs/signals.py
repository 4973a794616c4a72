"""Django signals for in-process hooks, each sent after the change commits.

    from jobs.signals import execution_dead

    @receiver(execution_dead)
    def page_someone(sender, execution, **kwargs): ...

`execution_succeeded`, `execution_failed` (a retry is queued) and `execution_dead` carry
`execution`; `job_state_changed` carries `job`, `before` and `after`. The sender is the model
class. Receivers run in the worker or web process that made the change; an exception in one
is logged and does not undo anything.
"""

import logging

from django.dispatch import Signal

from . import database

logger = logging.getLogger("jobs.signals")

execution_succeeded = Signal()
execution_failed = Signal()
execution_dead = Signal()
job_state_changed = Signal()


def send_now(signal: Signal, sender, **kwargs) -> None:
    """Send `signal` to every receiver; log (and swallow) what a receiver raises."""
    for receiver, result in signal.send_robust(sender, **kwargs):
        if isinstance(result, Exception):
            logger.error("Signal receiver %r failed: %s", receiver, result, exc_info=result)


def send_after_commit(signal: Signal, sender, **kwargs) -> None:
    """Send `signal` once the scheduler database's transaction commits (at once outside one)."""
    if signal.has_listeners(sender):
        database.on_commit(lambda: send_now(signal, sender, **kwargs))
