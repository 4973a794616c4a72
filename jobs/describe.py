"""Schedules in words, for the admin and the schedule preview: "At 02:30, every day".

Cron expressions are put into words by cron-descriptor; anything it cannot read is quoted
as it is, so the admin never shows a wrong sentence. Lists of Quartz's last and nth days
(`1,15,L`, `1#1,1#3`, `5L,1#2`) are put into words here: cron-descriptor reads them wrong.
"""

import contextlib
import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import Options, get_description
from cron_descriptor.Exception import (
    FormatException,
    MissingFieldException,
    WrongArgumentException,
)

from jobs.cron_syntax import DAY_OF_WEEK, CronSyntaxError
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
WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
ORDINALS = {"1": "first", "2": "second", "3": "third", "4": "fourth", "5": "fifth", "L": "last"}
ONE_VALUE_RANGE = re.compile(r"\b(\w+)-\1\b")  # `59-59` is 59

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
    fields = [ONE_VALUE_RANGE.sub(r"\1", field) for field in fields]
    try:
        sentence = _with_listed_days(fields) or get_description(" ".join(fields), _OPTIONS)
    except (FormatException, MissingFieldException, WrongArgumentException, ValueError, KeyError):
        return f"Cron {expression}"
    # The short form leaves out "every day": say it for fixed times of day on every day, so
    # "At 02:30" does not read as a one-off.
    hour, calendar = fields[-4], fields[-3:]
    if calendar == ["*", "*", "*"] and hour.replace(",", "").isdigit():
        sentence += ", every day"
    return sentence


def _with_listed_days(fields: list[str]) -> str | None:
    """Return the sentence for day fields that list L or # items, or None if there are none.

    The days go between the time and the months, where cron-descriptor puts them.
    """
    if len(fields) not in (5, 6):
        return None  # cron-descriptor says what is wrong
    day_of_month, day_of_week = fields[-3].upper(), fields[-1].upper()
    if "," in day_of_month and "L" in day_of_month:
        days = [_day_of_month(item) for item in day_of_month.split(",")]
    elif "," in day_of_week and ("L" in day_of_week or "#" in day_of_week):
        days = [_weekday_of_month(item) for item in day_of_week.split(",")]
    else:
        return None
    clock = get_description(" ".join([*fields[:-3], "*", "*", "*"]), _OPTIONS)
    with_months = get_description(" ".join([*fields[:-3], "*", fields[-2], "*"]), _OPTIONS)
    months = with_months.removeprefix(clock)
    listed = ", ".join(days[:-1]) + f" and {days[-1]}"
    return f"{clock}, on {listed} of the month{months}"


def _day_of_month(item: str) -> str:
    if item == "L":
        return "the last day"
    if not item.isdigit():
        raise ValueError(item)  # a range or a step beside L: quoted, not guessed
    return f"day {int(item)}"


def _weekday_of_month(item: str) -> str:
    """Return "the last Friday" for 5L, "the second Monday" for 1#2."""
    day, nth = (item[:-1], "L") if item.endswith("L") else item.partition("#")[::2]
    try:
        weekday = WEEKDAYS[DAY_OF_WEEK.value(day) % 7]
    except CronSyntaxError as error:
        raise ValueError(item) from error
    return f"the {ORDINALS[nth]} {weekday}"


def _local(moment: datetime, tz_name: str) -> str:
    # An unknown zone (old data: the form refuses them) leaves the time in UTC.
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
        moment = moment.astimezone(ZoneInfo(tz_name))
    return f"{moment:%Y-%m-%d %H:%M}"
