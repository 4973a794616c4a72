"""Schedules: when a job's occurrences fall, and whether its schedule fields make sense.

Every time is computed as an aware UTC datetime. Cron expressions are evaluated on the wall
clock of the job's IANA timezone, across DST changes as cron itself does (jobs.cron_time):

- a fixed-time expression (`30 2 * * *`, `@daily`) fires once per wall time: a time skipped
  when clocks go forward fires right after the change, a repeated one at its first pass;
- a wildcard expression (`*/15 * * * *`, `@hourly`) fires at every real instant whose wall
  time matches: none in a skipped hour, in both passes of a repeated one.

Interval schedules count real seconds, so DST never shifts them.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .cron_syntax import CronSyntaxError, croniter_form
from .cron_time import latest_cron, next_cron
from .cron_time import resolve_wall_time as resolve_wall_time  # the admin reads run_at by it
from .states import JobState, ScheduleType

CRON_ALIASES = frozenset(
    {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
)
MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 366 * 24 * 3600
UPCOMING_RUNS = 5  # how many run times the API and the admin show ahead


@dataclass(frozen=True)
class Schedule:
    """The schedule fields of a job, independent of the model."""

    schedule_type: str
    run_at: datetime | None = None
    interval_seconds: int | None = None
    cron: str = ""
    timezone: str = "UTC"

    @classmethod
    def of(cls, job) -> "Schedule":
        return cls(
            schedule_type=job.schedule_type,
            run_at=job.run_at,
            interval_seconds=job.interval_seconds,
            cron=job.cron or "",
            timezone=job.timezone or "UTC",
        )


def validate(schedule: Schedule) -> dict[str, list[str]]:
    """Return field -> messages for everything wrong with the schedule (empty when valid)."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    kind = schedule.schedule_type
    if kind not in ScheduleType.values:
        add("schedule_type", f"Must be one of: {', '.join(ScheduleType.values)}.")
        return errors

    try:
        ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        add(
            "timezone",
            f"Unknown timezone {schedule.timezone!r}; use an IANA name like Europe/Berlin.",
        )

    if kind == ScheduleType.ONCE:
        if schedule.run_at is None:
            add("run_at", "A one-time job needs run_at.")
        elif schedule.run_at.tzinfo is None:
            add("run_at", "run_at needs a timezone offset.")
    elif schedule.run_at is not None:
        add("run_at", f"run_at belongs to one-time jobs, not {kind} ones.")

    if kind == ScheduleType.INTERVAL:
        seconds = schedule.interval_seconds
        if seconds is None:
            add("interval_seconds", "An interval job needs interval_seconds.")
        elif seconds < MIN_INTERVAL_SECONDS:
            add("interval_seconds", f"Must be at least {MIN_INTERVAL_SECONDS} second.")
        elif seconds > MAX_INTERVAL_SECONDS:
            add("interval_seconds", f"Must be at most {MAX_INTERVAL_SECONDS} seconds (366 days).")
    elif schedule.interval_seconds is not None:
        add("interval_seconds", f"interval_seconds belongs to interval jobs, not {kind} ones.")

    if kind == ScheduleType.CRON:
        message = cron_error(schedule.cron)
        if message is None and "timezone" not in errors:
            message = _zone_error(schedule)
        if message:
            add("cron", message)
    elif schedule.cron:
        add("cron", f"cron belongs to cron jobs, not {kind} ones.")
    return errors


def cron_error(expression: str) -> str | None:
    """Return why `expression` is not a usable cron expression, or None."""
    expression = (expression or "").strip()
    if not expression:
        return "A cron job needs a cron expression."
    if expression.startswith("@"):
        if expression.lower() not in CRON_ALIASES:
            return (
                f"Unknown alias {expression!r}; use one of @hourly @daily @weekly @monthly @yearly."
            )
        return None
    fields = expression.split()
    if len(fields) not in (5, 6):
        return (
            f"Expected 5 fields (minute hour day month weekday) or 6 with seconds first, "
            f"got {len(fields)}."
        )
    try:
        spelled = croniter_form(expression)  # each field checked; the message names it
    except CronSyntaxError as error:
        return f"Invalid cron expression {expression!r}: {error}"
    if not croniter.is_valid(spelled, second_at_beginning=True):
        return f"Invalid cron expression {expression!r}."
    try:
        next_after(Schedule(ScheduleType.CRON, cron=expression), datetime.now(UTC))
    except ValueError:  # croniter's search found no date, or ours ran out of steps
        day_of_month, month, day_of_week = fields[-3:]
        if day_of_week == "*":
            return (
                f"day of month: {day_of_month} never falls in month {month}, so "
                f"{expression!r} never matches a real date."
            )
        return f"The cron expression {expression!r} never matches a real date."
    return None


def _zone_error(schedule: Schedule) -> str | None:
    """Return why a valid cron expression never fires in its zone, or None.

    Only clock changes can do that: a wildcard expression whose every time falls in an hour
    the clocks skip, such as `*/30 2 * 3 0L` in Europe/Berlin (the last Sunday of March is
    the change).
    """
    try:
        next_after(schedule, datetime.now(UTC))
    except ValueError:
        return (
            f"{schedule.cron!r} never fires in {schedule.timezone}: every time it names falls "
            f"in an hour the clocks skip when they go forward."
        )
    return None


def next_after(
    schedule: Schedule, after: datetime, *, anchor: datetime | None = None
) -> datetime | None:
    """Return the first occurrence strictly after `after`, or None if there is none.

    `anchor` is where an interval schedule counts from (its previous occurrence).
    """
    kind = schedule.schedule_type
    if kind == ScheduleType.ONCE:
        return schedule.run_at if schedule.run_at and schedule.run_at > after else None
    if kind == ScheduleType.INTERVAL:
        step = timedelta(seconds=schedule.interval_seconds)
        if anchor is None:
            return after + step
        if anchor > after:
            return anchor
        missed = (after - anchor) // step
        return anchor + (missed + 1) * step
    # In UTC for the cache: aware datetimes of one zone compare equal across a fold.
    return _next_cron(schedule.cron, ZoneInfo(schedule.timezone), after.astimezone(UTC))


def upcoming(
    schedule: Schedule, n: int, *, after: datetime, first: datetime | None = None
) -> list[datetime]:
    """Return the next `n` occurrences after `after` (starting at `first` when known)."""
    times: list[datetime] = []
    current = first if first is not None and first > after else next_after(schedule, after)
    while current is not None and len(times) < n:
        times.append(current)
        current = next_after(schedule, current, anchor=current)
    return times


def upcoming_runs(job, *, now: datetime, n: int = UPCOMING_RUNS) -> list[datetime]:
    """Return the next `n` run times of `job`: its pending next_run_at, then the future ones.

    next_run_at comes first even when it is already due (a worker is about to run it);
    occurrences a late worker will skip under the misfire policy are not listed. Jobs that
    are not active have none.
    """
    if job.state != JobState.ACTIVE or job.next_run_at is None:
        return []
    schedule = Schedule.of(job)
    runs = [job.next_run_at]
    while len(runs) < n:
        # Anchored on the previous run, so interval schedules keep their phase.
        following = next_after(schedule, max(runs[-1], now), anchor=runs[-1])
        if following is None:
            break
        runs.append(following)
    return runs


# Jobs that share a schedule fall due together and ask for the same next occurrence: when
# thousands of `*/5 * * * *` jobs are materialised, croniter runs once per batch, not per job.
@functools.lru_cache(maxsize=4096)
def _next_cron(expression: str, tz: ZoneInfo, after: datetime) -> datetime:
    return next_cron(expression, tz, after)


def latest_at_or_before(schedule: Schedule, now: datetime, *, anchor: datetime) -> datetime:
    """Return the last occurrence at or before `now`, given one (`anchor`) that is due."""
    if schedule.schedule_type == ScheduleType.INTERVAL:
        step = timedelta(seconds=schedule.interval_seconds)
        return anchor + ((now - anchor) // step) * step
    if schedule.schedule_type == ScheduleType.ONCE:
        return anchor
    latest = latest_cron(schedule.cron, ZoneInfo(schedule.timezone), now)
    return max(latest, anchor) if latest is not None else anchor


@dataclass(frozen=True)
class Plan:
    """What materialising a due job does: occurrences to queue, and the next one after."""

    occurrences: list[datetime]
    next_run_at: datetime | None


def plan_due(
    schedule: Schedule,
    *,
    misfire_policy: str,
    next_run_at: datetime,
    now: datetime,
    grace: timedelta,
    limit: int = 1000,
) -> Plan:
    """Decide which occurrences of a job due at `next_run_at` to run at `now`.

    One-time jobs always run. For recurring ones the misfire policy decides what happens to
    occurrences missed while no worker ran: `run_once` runs the latest of them, `skip` runs it
    only if it is within `grace` of now, `run_all` runs each (at most `limit` per call; the
    rest follow on the next call).
    """
    if schedule.schedule_type == ScheduleType.ONCE:
        return Plan([next_run_at], None)
    if misfire_policy == "run_all":
        occurrences: list[datetime] = []
        current = next_run_at
        while current is not None and current <= now and len(occurrences) < limit:
            occurrences.append(current)
            current = next_after(schedule, current, anchor=current)
        return Plan(occurrences, current)
    following = next_after(schedule, next_run_at, anchor=next_run_at)
    if following is not None and following > now:
        return Plan([next_run_at], following)  # on time: nothing was missed
    latest = latest_at_or_before(schedule, now, anchor=next_run_at)
    following = next_after(schedule, latest, anchor=latest)
    if misfire_policy == "skip" and now - latest > grace:
        return Plan([], following)
    return Plan([latest], following)
