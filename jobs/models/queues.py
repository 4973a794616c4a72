"""Queues as objects: pause, and limits that hold across the fleet.

A queue exists as soon as a job names it (enqueueing writes its row), so every queue in use
can be paused and limited, and the claim can lock the row of each queue it reads. Staff set
the limits; the engine keeps its own bookkeeping (the rate's schedule, the claims each kind
of limit held back) in QueueState, written only by claims holding the queue's lock.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.timezone import now as utcnow


class Queue(models.Model):
    name = models.CharField(primary_key=True, max_length=100)
    paused = models.BooleanField(
        default=False, help_text="Nothing of the queue starts; running executions finish."
    )
    concurrency_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many running at once, fleet-wide."
    )
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many starts per rate_period, fleet-wide."
    )
    rate_period = models.PositiveIntegerField(default=1, help_text="Seconds.")
    created_at = models.DateTimeField(default=utcnow, editable=False)
    updated_at = models.DateTimeField(default=utcnow)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                name="queue_limits_positive",
                condition=(Q(concurrency_limit__isnull=True) | Q(concurrency_limit__gte=1))
                & (Q(rate_limit__isnull=True) | Q(rate_limit__gte=1))
                & Q(rate_period__gte=1),
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def limited(self) -> bool:
        return self.concurrency_limit is not None or self.rate_limit is not None


class QueueState(models.Model):
    """The engine's bookkeeping of a limited queue: written by claims under its lock."""

    queue = models.OneToOneField(
        Queue, primary_key=True, on_delete=models.CASCADE, related_name="engine_state"
    )
    # The rate limit's schedule: no start before this instant (one every period / limit).
    next_start_at = models.DateTimeField(null=True, blank=True)
    # The starts of the last rate_period, newest first, at most rate_limit of them: the
    # next start waits until the oldest of them is a period old, so no window of the
    # period ever holds more than the limit, however the schedule made up for late starts.
    recent_starts = ArrayField(models.DateTimeField(), default=list, blank=True)
    # Claims that found due work held back, by what held it: counters for /metrics.
    held_concurrency = models.BigIntegerField(default=0)
    held_rate = models.BigIntegerField(default=0)
    held_key = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.queue_id} (engine state)"
