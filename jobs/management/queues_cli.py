"""`jobsctl queues`, `pause-queue QUEUE` and `resume-queue QUEUE`: the queues from a shell.

A mixin of the jobsctl command: the same output (a table, or --json), the same audit actor
(the OS user, via jobsctl), and a queue no job names is a one-line refusal.
"""

from django.core.management.base import CommandError
from django.utils import timezone

from jobs.selectors.queues import queue_rows
from jobs.services.queues import QueueNotFound, queue_pause, queue_resume

from . import cli

HEADERS = ["queue", "paused", "queued", "due", "running", "limit", "rate", "oldest wait"]


def queue_data(row) -> dict:
    return {
        "name": row.name,
        "paused": row.paused,
        "concurrency_limit": row.concurrency_limit,
        "rate_limit": row.rate_limit,
        "rate_period": row.rate_period,
        "queued": row.queued,
        "due": row.due,
        "running": row.running,
        "oldest_due_at": cli.iso(row.oldest_due_at),
        "throttled": row.throttled,
        "held_back": row.held_back,
    }


def queue_row(row, now) -> list:
    wait = (now - row.oldest_due_at).total_seconds() if row.oldest_due_at else None
    return [
        row.name,
        "yes" if row.paused else "no",
        row.queued,
        row.due,
        row.running,
        row.concurrency_limit,
        f"{row.rate_limit}/{row.rate_period}s" if row.rate_limit else None,
        f"{max(0.0, wait):.1f}s" if wait is not None else None,
    ]


class QueueCommands:
    """The queue subcommands; `emit` is the command's."""

    @staticmethod
    def add_queue_arguments(sub, common) -> None:
        sub.add_parser("queues", parents=[common], help="Queues: depth, running, limits, pause.")
        for name, text in [
            ("pause-queue", "Pause a queue across the fleet: running work finishes."),
            ("resume-queue", "Resume a paused queue."),
        ]:
            sub.add_parser(name, parents=[common], help=text).add_argument("queue", metavar="QUEUE")

    def do_queues(self, **_):
        now = timezone.now()
        rows = queue_rows(now=now)
        text = cli.table(HEADERS, [queue_row(r, now) for r in rows]) if rows else "No queues."
        self.emit([queue_data(r) for r in rows], text)

    def do_pause_queue(self, *, queue, **_):
        self._change_queue(queue_pause, queue, "Paused")

    def do_resume_queue(self, *, queue, **_):
        self._change_queue(queue_resume, queue, "Resumed")

    def _change_queue(self, change, name: str, done: str) -> None:
        try:
            change(name=name)
        except QueueNotFound:
            raise CommandError(f"No job names a queue {name!r}.") from None
        [row] = queue_rows(now=timezone.now(), name=name)
        self.emit(
            queue_data(row), f"{done} queue {name}: {row.queued} queued, {row.running} running."
        )
