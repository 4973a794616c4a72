"""Backfill: queue the past occurrences of a recurring job that never ran.

A worker that was down, a job paused over a weekend, or the `skip` misfire policy leave
occurrences without an execution. Backfill queues a first attempt for each occurrence in a
past range that has none yet, by the job's own schedule (its timezone and the DST rule of
jobs.schedules). An occurrence is known by (job, scheduled_for): one that already has an
execution, whatever became of it, is left alone, so backfilling a range twice queues
nothing the second time.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from .. import audit, conf, database, quotas, schedules
from ..engine import wakeup
from ..exceptions import ValidationError
from ..models import Execution, Job
from ..states import ScheduleType
from .deadlocks import retried_on_deadlock
from .jobs import lock_job

# Where a backfill may start: before it, dates leave the range time zones (and Python's
# datetimes, a microsecond before year 1) can be computed in.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
# How far past the limit a cron range is counted, so the refusal can say how many it holds
# without evaluating a year of every-second runs.
COUNT_BEYOND_LIMIT = 10


@dataclass(frozen=True)
class Backfill:
    """What a backfill found and did: occurrences in the range, and how many it queued."""

    start: datetime
    end: datetime
    occurrences: int
    queued: int


class TooManyOccurrences(Exception):
    def __init__(self, counted: int, *, exact: bool):
        self.counted, self.exact = counted, exact


def backfill_range_errors(start: datetime, end: datetime, *, now: datetime) -> dict:
    """Return field -> messages for a range that cannot be backfilled (empty when it can)."""
    errors: dict[str, list[str]] = {}
    if start < EARLIEST:
        errors["start"] = ["Backfill starts in 1970 or later."]
    elif start > end:
        errors["end"] = ["The range is reversed: end is before start."]
    elif end > now:
        errors["end"] = [
            "The range reaches into the future; backfill covers past occurrences only "
            "(future ones run on schedule)."
        ]
    return errors


def occurrences_between(job: Job, start: datetime, end: datetime, *, limit: int) -> list[datetime]:
    """Return the occurrences of `job`'s schedule from `start` to `end`, both included.

    Raises TooManyOccurrences past `limit`. Interval schedules keep the job's phase: they
    count from its next (or last) run, whichever side of the range that lies.
    """
    schedule = schedules.Schedule.of(job)
    if job.schedule_type == ScheduleType.INTERVAL:
        step = timedelta(seconds=job.interval_seconds)
        anchor = job.next_run_at or job.last_run_at or job.created_at
        first = anchor + -((anchor - start) // step) * step  # the first one at or after start
        count = (end - first) // step + 1 if first <= end else 0
        if count > limit:
            raise TooManyOccurrences(count, exact=True)
        return [first + i * step for i in range(count)]
    times: list[datetime] = []
    current = schedules.next_after(schedule, start - timedelta(microseconds=1))
    cap = limit * COUNT_BEYOND_LIMIT
    while current is not None and current <= end:
        times.append(current)
        if len(times) > cap:
            raise TooManyOccurrences(cap, exact=False)
        current = schedules.next_after(schedule, current, anchor=current)
    if len(times) > limit:
        raise TooManyOccurrences(len(times), exact=True)
    return times


def _too_many(error: TooManyOccurrences, limit: int) -> ValidationError:
    counted = f"{error.counted:,}" if error.exact else f"more than {error.counted:,}"
    return ValidationError(
        {
            "end": [
                f"The range holds {counted} occurrences; one backfill queues at most "
                f"{limit:,} (BACKFILL_MAX_OCCURRENCES). Split it into smaller ranges."
            ]
        }
    )


@retried_on_deadlock
def job_backfill(*, job: Job, start: datetime, end: datetime) -> Backfill:
    """Queue a first attempt of each occurrence of `job` from `start` to `end` that has no
    execution yet; they run now, oldest first."""
    now = timezone.now()
    if job.schedule_type == ScheduleType.ONCE:
        raise ValidationError({"schedule_type": ["Only recurring jobs can be backfilled."]})
    errors = backfill_range_errors(start, end, now=now)
    if errors:
        raise ValidationError(errors)
    limit = conf.BACKFILL_MAX_OCCURRENCES
    with database.atomic():
        # The job's row lock keeps a materialising worker and a second backfill of the
        # same job out until commit: the occurrences missing here are missing at the insert.
        lock_job(job, "backfill")
        quotas.check_emails(job.owner_id, handler=job.handler, payloads=[job.payload])
        try:
            times = occurrences_between(job, start, end, limit=limit)
        except TooManyOccurrences as error:
            raise _too_many(error, limit) from None
        held = set(
            Execution.objects.filter(job=job, scheduled_for__in=times).values_list(
                "scheduled_for", flat=True
            )
        )
        missing = [at for at in times if at not in held]
        Execution.objects.bulk_create(
            [
                Execution(
                    job=job,
                    scheduled_for=at,
                    queue=job.queue,
                    priority=job.priority,
                    concurrency_key=job.concurrency_key,
                    concurrency_limit=job.concurrency_limit,
                    run_after=now,
                    created_at=now,
                )
                for at in missing
            ],
            ignore_conflicts=True,  # the unique (job, scheduled_for, attempt) key decides
        )
        result = Backfill(start=start, end=end, occurrences=len(times), queued=len(missing))
        audit.record(
            action="backfill",
            object_type="job",
            object_id=job.pk,
            owner_id=job.owner_id,
            changes={"backfill": [None, _described(result)]},
        )
        if missing:
            wakeup.queued(job.queue)
    return result


def _described(result: Backfill) -> dict:
    return {
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "occurrences": result.occurrences,
        "queued": result.queued,
    }
