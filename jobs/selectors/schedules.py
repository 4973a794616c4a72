"""A schedule's next runs and its description, read without saving anything (the preview)."""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .. import schedules
from ..describe import describe_schedule
from ..exceptions import ValidationError
from ..states import ScheduleType

PREVIEW_RUNS = 5  # runs shown unless asked for more
MAX_PREVIEW_RUNS = 50


@dataclass(frozen=True)
class PreviewRun:
    at: datetime  # in the schedule's timezone
    utc_offset: str  # "+01:00"
    # The clocks change between the run before this one (or now) and this one.
    after_clock_change: bool


@dataclass(frozen=True)
class SchedulePreview:
    description: str
    timezone: str
    runs: list[PreviewRun]
    warnings: list[str]


def schedule_preview(
    *,
    schedule_type: str,
    run_at: datetime | None = None,
    interval_seconds: int | None = None,
    cron: str = "",
    timezone: str = "UTC",
    now: datetime,
    count: int = PREVIEW_RUNS,
) -> SchedulePreview:
    """Return the next `count` runs of a schedule from `now`, in words and with their offsets.

    Raises ValidationError naming each bad field, as creating a job with it would.
    """
    schedule = schedules.Schedule(
        schedule_type=schedule_type,
        run_at=run_at,
        interval_seconds=interval_seconds,
        cron=(cron or "").strip(),
        timezone=timezone or "UTC",
    )
    errors = schedules.validate(schedule)
    if errors:
        raise ValidationError(errors)
    tz = ZoneInfo(schedule.timezone)
    if schedule_type == ScheduleType.ONCE:
        times = [run_at] if run_at > now else []
    else:
        times = schedules.upcoming(schedule, count, after=now)
    runs, warnings = [], []
    previous_offset = now.astimezone(tz).utcoffset()
    for when in times:
        local = when.astimezone(tz)
        changed = local.utcoffset() != previous_offset
        runs.append(PreviewRun(local, _offset(local), changed))
        if changed:
            warnings.append(
                f"The clocks change before the run at {local:%Y-%m-%d %H:%M} "
                f"(UTC{_offset(local)}); the runs follow cron's daylight-saving rule."
            )
        previous_offset = local.utcoffset()
    if schedule_type == ScheduleType.ONCE and not runs:
        warnings.append("run_at is in the past: the job would run as soon as it is created.")
    return SchedulePreview(describe_schedule(schedule), schedule.timezone, runs, warnings)


def _offset(moment: datetime) -> str:
    text = moment.strftime("%z")  # +0100
    return f"{text[:3]}:{text[3:]}"
