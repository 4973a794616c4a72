"""Cron on a wall clock: the real instants at which a cron expression fires in a timezone.

croniter walks the naive wall-clock times an expression matches; this module turns them into
aware UTC instants by the rule cron itself follows across daylight-saving changes (Vixie
cron, cronie; DESIGN, "Cron and daylight saving time"):

- a *fixed-time* expression (none of its second, minute and hour fields starts with `*`:
  `30 2 * * *`, `@daily`) fires once per matching wall time: a wall time skipped when clocks
  go forward fires right after the change, a repeated one at its first pass;
- a *wildcard* expression (`*/15 * * * *`, `0 * * * *`, `@hourly`) fires at every real
  instant whose wall time matches: never in a skipped hour, in both passes of a repeated one.

Real time and wall time run in the same order except across a backward change, where the
wall clock jumps back over a range of wall times (the repeated range) that it then reads a
second time. The searches below walk wall times in order and look at that range apart.
"""

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from .cron_syntax import CronSyntaxError, croniter_form

# Beyond this many candidate wall-clock times, or this many years, without an occurrence,
# give up: it only happens for expressions that match nothing real (30 February), or whose
# every wall time is skipped by the clocks (`*/30 2 * 3 0L` in Berlin: two a year, all in
# the gap). The rarest real schedules (`0 0 * 2 1#5`) come round within about 40 years.
MAX_CRON_STEPS = 10_000
MAX_CRON_YEARS = 100
SECOND = timedelta(seconds=1)


def is_fixed_time(expression: str) -> bool:
    """Return whether `expression` fires at fixed times of day (cron's DST special case)."""
    expression = expression.strip()
    if expression.startswith("@"):
        # @hourly is `0 * * * *`; @daily, @weekly, @monthly and @yearly fire at midnight.
        return expression.lower() != "@hourly"
    fields = expression.split()
    # Five fields have no seconds field: they fire at second 0, a fixed second.
    clock = fields[:3] if len(fields) == 6 else fields[:2]
    return not any(field.startswith("*") for field in clock)


def instants(wall: datetime, tz: ZoneInfo, *, fixed: bool) -> tuple[datetime, ...]:
    """Return the UTC instants, in order, at which naive `wall` fires in `tz` under the rule."""
    # fold=0 reads a wall time with the offset in force before a change, fold=1 after it.
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return (early,)
    if early < late:  # the clocks went back: two real instants read this wall time
        return (early,) if fixed else (early, late)
    # The clocks went forward over this wall time (late reads it before the change).
    return (_first_second(late, early, lambda t: _wall(t, tz) >= wall),) if fixed else ()


def resolve_wall_time(wall: datetime, tz: ZoneInfo) -> datetime:
    """Map a naive wall-clock time in `tz` to one UTC instant (first pass; gap -> change)."""
    return instants(wall, tz, fixed=True)[0]


def next_cron(expression: str, tz: ZoneInfo, after: datetime) -> datetime:
    """Return the first instant strictly after `after` at which `expression` fires in `tz`."""
    after = after.astimezone(UTC)
    fixed = is_fixed_time(expression)
    local = after.astimezone(tz)
    wall = local.replace(tzinfo=None, microsecond=0)
    start, second_pass = wall, None
    repeated = _repeated_range(wall, tz)
    if repeated is not None:
        low, high = repeated
        if local.fold == 1 and fixed:
            # Past the first pass, which is where fixed-time walls of the range fired.
            start = max(wall, high - SECOND)
        elif local.fold == 0 and not fixed:
            # `after` is in the first pass: the second one replays the range after it ends,
            # so its first matching wall (if any) competes with what follows the first pass.
            first = _cron_at(expression, low - SECOND).get_next(datetime)
            if first < high:
                second_pass = first.replace(tzinfo=tz, fold=1).astimezone(UTC)
    # Wall times after `wall` fire in order, each no earlier than the one before; a repeated
    # wall's second pass can come first only when `after` is itself inside that range (above).
    iterator = _cron_at(expression, start)
    for _ in range(MAX_CRON_STEPS):
        candidate = iterator.get_next(datetime)
        if candidate.year > wall.year + MAX_CRON_YEARS:
            break
        if second_pass is not None and candidate >= repeated[1]:
            return second_pass  # past the first pass: the second one comes before this
        times = [t for t in instants(candidate, tz, fixed=fixed) if t > after]
        if times:
            return times[0]
    raise ValueError(f"cron expression {expression!r} has no occurrence after {after}")


def latest_cron(expression: str, tz: ZoneInfo, at: datetime) -> datetime | None:
    """Return the last instant at or before `at` at which `expression` fires in `tz`."""
    at = at.astimezone(UTC)
    fixed = is_fixed_time(expression)
    local = at.astimezone(tz)
    wall = local.replace(tzinfo=None, microsecond=0)
    start = wall
    repeated = _repeated_range(wall, tz)
    if repeated is not None and local.fold == 1:
        low, high = repeated
        if not fixed:
            # Inside the second pass, its walls up to now are the latest occurrences.
            last = _cron_at(expression, wall + SECOND).get_prev(datetime)
            if last >= low:
                return last.replace(tzinfo=tz, fold=1).astimezone(UTC)
        # Otherwise the latest is in the first pass, which read every wall below `high`.
        start = high - SECOND
    iterator = _cron_at(expression, start + SECOND)
    for _ in range(MAX_CRON_STEPS):
        candidate = iterator.get_prev(datetime)
        if candidate.year < wall.year - MAX_CRON_YEARS:
            break
        times = [t for t in instants(candidate, tz, fixed=fixed) if t <= at]
        if times:
            return times[-1]
    return None


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)


def _repeated_range(wall: datetime, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    """Return the naive walls [low, high) read twice around `wall`, or None if read once."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early >= late:
        return None
    after = late.astimezone(tz).utcoffset()
    change = _first_second(early, late, lambda t: t.astimezone(tz).utcoffset() == after)
    low = _wall(change, tz)
    return low, low + (late - early)


def _first_second(start: datetime, end: datetime, test) -> datetime:
    """Return the first instant of start + k seconds (0 < k, up to `end`) that passes `test`.

    `test` fails at `start`, passes at `end` and keeps passing once it does. Changes fall on
    whole seconds, so a bisection over whole seconds finds one exactly.
    """
    low, high = 0, int((end - start) / SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if test(start + middle * SECOND):
            high = middle
        else:
            low = middle
    return (start + high * SECOND).replace(microsecond=0)


_parsed = threading.local()  # per thread: a croniter is an iterator with state


def _cron_at(expression: str, wall: datetime) -> croniter:
    """Return a croniter for `expression` positioned at naive `wall`, parsing it only once."""
    cache = _parsed.__dict__.setdefault("cache", {})
    iterator = cache.get(expression)
    if iterator is None:
        if len(cache) > 1024:
            cache.clear()
        iterator = cache[expression] = croniter(
            _spelled(expression), wall, second_at_beginning=True
        )
    else:
        iterator.set_current(wall, force=True)
    return iterator


def _spelled(expression: str) -> str:
    """Return `expression` in the spelling croniter reads as cron does (jobs.cron_syntax)."""
    try:
        return croniter_form(expression)
    except CronSyntaxError:
        # Refused at creation since it was saved: evaluated as croniter reads it, as before.
        return expression.strip()
