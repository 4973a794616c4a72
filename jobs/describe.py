"""Schedules in words, for the admin and the schedule preview: "At 02:30, every day".

Cron expressions are put into words by cron-descriptor; anything it cannot read is quoted
as it is, so the admin never shows a wrong sentence.
"""

import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from cron_descriptor.Exception import (
    FormatException,
    MissingFieldException,
    WrongArgumentException,
)

from jobs.states import ScheduleType

# The aliases croniter accepts, as the expressions they stand for.
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))

_OPTIONS = Options()
_OPTIONS.use_24hour_time_format = True


def describe_schedule(job) -> str:
    """Return `job`'s schedule as a sentence, with its timezone."""
    if job.schedule_type == ScheduleType.ONCE:
        if job.run_at is None:
            return "Once (no time set)"
        return f"Once, at {_local(job.run_at, job.timezone)} ({job.timezone})"
    if job.schedule_type == ScheduleType.INTERVAL:
        return describe_interval(job.interval_seconds)
    return f"{describe_cron(job.cron)} ({job.timezone})"


def describe_interval(seconds: int | None) -> str:
    """Return "Every 5 minutes" for 300, in the largest unit that divides it."""
    if not seconds:
        return "Interval (not set)"
    size, unit = next((size, unit) for size, unit in UNITS if seconds % size == 0)
    count = seconds // size
    return f"Every {unit}" if count == 1 else f"Every {count} {unit}s"


def describe_cron(expression: str) -> str:
    """Return a cron expression in words, or "Cron <expression>" when it cannot be read."""
    expression = (expression or "").strip()
    fields = ALIASES.get(expression.lower(), expression).split()
    try:
        sentence = get_description(" ".join(fields), _OPTIONS)
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError, KeyError):
        return f"Cron {expression}"
    # The short form leaves out "every day": say it for fixed times of day on every day, so
    # "At 02:30" does not read as a one-off.
    hour, calendar = fields[-4], fields[-3:]
    if calendar == ["*", "*", "*"] and hour.replace(",", "").isdigit():
        sentence += ", every day"
    return sentence


def _local(moment: datetime, tz_name: str) -> str:
    # An unknown zone (old data: the form refuses them) leaves the time in UTC.
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        moment = moment.astimezone(ZoneInfo(tz_name))
    return f"{moment:%Y-%m-%d %H:%M}"
