"""The runworker process: a small loop (process) over its parts: slots run handlers under
their timeouts, the listener hears NOTIFY, the lease heartbeats and rescues, and one helper
retries a database step after a connection error."""

from .process import WorkerProcess
from .slots import Running

__all__ = ["Running", "WorkerProcess"]
