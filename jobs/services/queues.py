"""The operations on queues: pause, resume, and set their fleet-wide limits.

Each takes the queue's lock exclusively first. Claims hold it shared while they claim
(queries.sql: claim_guard, lock_queue), so the change waits for the claims under way to
commit, and every claim that starts after it sees it: once a pause commits, nothing of the
queue is claimed. What a worker claimed ahead before it goes back as the worker hears the
pause (jobs.worker.ahead). A queue any job names can be configured; its row is made on
first use.
"""

from django.utils import timezone

from .. import audit, database
from ..engine import queries, wakeup
from ..exceptions import ValidationError
from ..models import INT_MAX, Execution, Job, Queue

LIMIT_FIELDS = ("concurrency_limit", "rate_limit", "rate_period")
MAX_RATE_PERIOD_SECONDS = 24 * 3600


class QueueNotFound(LookupError):
    """No job names this queue."""


def queue_exists(name: str) -> bool:
    """A queue exists once a job names it (or it has been configured)."""
    return (
        Queue.objects.filter(name=name).exists()
        or Job.objects.filter(queue=name).exists()
        or Execution.objects.filter(queue=name).exists()
    )


def _locked(name: str) -> Queue:
    if not queue_exists(name):
        raise QueueNotFound(name)
    with database.cursor() as cursor:
        queries.run(cursor, "lock_queue", name=name)  # waits for the claims under way
    now = timezone.now()
    Queue.objects.get_or_create(name=name, defaults={"created_at": now, "updated_at": now})
    return Queue.objects.select_for_update().get(name=name)


def _audit(queue: Queue, action: str, changes: dict) -> None:
    audit.record(action=action, object_type="queue", object_id=queue.name, changes=changes)


def limits_errors(changes: dict) -> dict[str, list[str]]:
    """Return field -> messages for limits that cannot be set (empty when they can)."""
    errors: dict[str, list[str]] = {}
    unknown = set(changes) - set(LIMIT_FIELDS)
    for name in sorted(unknown):
        errors[name] = ["Unknown field; a queue has concurrency_limit, rate_limit and rate_period."]
    for name in ("concurrency_limit", "rate_limit"):
        value = changes.get(name)
        if value is not None and not (isinstance(value, int) and 1 <= value <= INT_MAX):
            errors[name] = ["A whole number of at least 1, or null for no limit."]
    period = changes.get("rate_period", 1)
    if not (isinstance(period, int) and 1 <= period <= MAX_RATE_PERIOD_SECONDS):
        errors["rate_period"] = [f"Seconds, from 1 to {MAX_RATE_PERIOD_SECONDS}."]
    return errors


def queue_update(*, name: str, **changes) -> Queue:
    """Set some of a queue's limits (None: no limit)."""
    errors = limits_errors(changes)
    if errors:
        raise ValidationError(errors)
    with database.atomic():
        queue = _locked(name)
        before = {field: getattr(queue, field) for field in changes}
        for field, value in changes.items():
            setattr(queue, field, value)
        queue.updated_at = timezone.now()
        queue.save()
        diff = {f: [before[f], v] for f, v in changes.items() if before[f] != v}
        if diff:
            _audit(queue, "edit", diff)
            wakeup.limits_changed(name)
    return queue


def _set_paused(name: str, paused: bool, action: str) -> Queue:
    with database.atomic():
        queue = _locked(name)
        if queue.paused != paused:
            queue.paused = paused
            queue.updated_at = timezone.now()
            queue.save(update_fields=["paused", "updated_at"])
            _audit(queue, action, {"paused": [not paused, paused]})
            wakeup.limits_changed(name)
    return queue


def queue_pause(*, name: str) -> Queue:
    """Pause a queue across the fleet: running executions finish, nothing new starts."""
    return _set_paused(name, True, "pause")


def queue_resume(*, name: str) -> Queue:
    """Resume a paused queue; workers take from it again at their next claim."""
    queue = _set_paused(name, False, "resume")
    wakeup.queued(name)  # idle workers take from it now, not at their next poll
    return queue
