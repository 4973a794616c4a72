"""Outcomes per time bucket, and the latest dead letters: the dashboard's charts and list."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from jobs.models import Execution
from jobs.states import ExecutionState

FAILED = (ExecutionState.FAILED, ExecutionState.DEAD)
JUDGED = (ExecutionState.SUCCEEDED, *FAILED)  # cancelled runs say nothing of health


@dataclass
class Bucket:
    label: str  # shown under some bars: "14:05"
    succeeded: int = 0
    failed: int = 0  # failed and dead attempts

    @property
    def total(self) -> int:
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.total if self.total else None


def outcome_series(*, now: datetime, span: timedelta, bucket: timedelta, trunc) -> list[Bucket]:
    """Return outcomes per `bucket` over the last `span`, oldest first (one query).

    Rows are grouped by `trunc` (minute or hour) in the database and folded into buckets
    here, which keeps the result small whatever the span.
    """
    size = int(bucket.total_seconds())
    end = _floor(now, size) + bucket
    start = end - span
    buckets = [
        Bucket(label=timezone.localtime(start + i * bucket).strftime("%H:%M"))
        for i in range(int(span / bucket))
    ]
    rows = (
        Execution.objects.filter(state__in=JUDGED, finished_at__gte=start)
        # In UTC, as the buckets are: a local zone would shift them (half-hour offsets) or
        # merge a repeated fall-back hour into its neighbour.
        .annotate(at=trunc("finished_at", tzinfo=UTC))
        .order_by()
        .values("at", "state")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        index = int((row["at"] - start).total_seconds() // size)
        if 0 <= index < len(buckets):
            if row["state"] == ExecutionState.SUCCEEDED:
                buckets[index].succeeded += row["n"]
            else:
                buckets[index].failed += row["n"]
    return buckets


def _floor(moment: datetime, size: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % size, tz=moment.tzinfo)


def latest_dead_letters(*, limit: int) -> list[Execution]:
    """Return the `limit` executions that most recently went dead, with their jobs."""
    return list(
        Execution.objects.filter(state=ExecutionState.DEAD)
        .select_related("job")
        .order_by("-finished_at")[:limit]
    )
