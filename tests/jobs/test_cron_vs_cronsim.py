"""The project's cron occurrences against an independent engine's, across every DST change.

cronsim (a test dependency) is not built on croniter and follows Debian cron's handling of DST
changes, the rule in DESIGN ("Cron and daylight saving time"). Random 5- and 6-field
expressions start just before each change of two years in 14 zones, and the next occurrences
of both engines must be the same instants.

The expressions keep to the syntax both engines read alike: numbers, `*`, `*/n`, `a-b` and
`a-b/n` with a < b, lists, and Quartz's `L` (the last day of the month), `5L` (the last Friday)
and `1#2` (the second Monday), drawn so that they often name the change's own day. At most one
of day-of-month and day-of-week is restricted, so cron's either-or rule for the two does not
come in (the second test below covers it). cronsim leaves every 6-field expression out
of cron's DST special case (6 fields are not Debian syntax); here a 6-field expression is
fixed-time when none of its second, minute and hour fields starts with `*`, so such
expressions are drawn with seconds `0` and compared with cronsim's 5-field equivalent.

cronsim itself breaks that rule in its wildcard path where a change skips or repeats a part of
an hour or a midnight (Lord Howe, Chatham, Havana, Santiago, Cairo): it can return a wall time
the clock skips, step past a real instant that matches, go back in time, or loop (stopped
after 50,000 ticks of its clock). Where its answer differs from ours and the rule's own terms
show cronsim wrong (checked with cronsim's own matcher on wall times), the case is counted and
printed as a cronsim fault, and only those zones may have any; every other difference fails.

A second test compares the two engines without a timezone over thousands of expressions
that mix `L`, `#`, ranges, steps, lists and names in every field (the syntax jobs.cron_syntax
checks and respells for croniter), forwards and backwards; each must also pass validation.

A failure prints its seed; replay it with CRON_DST_SEED=<seed> (or CRON_SYNTAX_SEED=<seed>).
"""

import calendar
import os
import random
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.cron_time import is_fixed_time, latest_cron
from jobs.schedules import Schedule, next_after, validate

cronsim = pytest.importorskip("cronsim")

ZONES = (
    "Europe/Berlin",
    "Europe/London",
    "Europe/Dublin",  # "negative DST" in the tz database: winter is the exception
    "America/New_York",
    "America/Los_Angeles",
    "America/St_Johns",  # half-hour zone
    "America/Havana",  # changes at midnight
    "America/Santiago",  # southern hemisphere, changes at midnight
    "Africa/Cairo",  # changes at midnight
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Auckland",
    "Pacific/Chatham",  # 45-minute offsets
    "Asia/Jerusalem",
)
# Where a change skips a part of an hour or the midnight that starts a day.
ODD_CHANGES = {
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Havana",
    "America/Santiago",
    "Africa/Cairo",
}
YEARS = (2027, 2028)
EXPRESSIONS_PER_CHANGE = 64
OCCURRENCES = 4  # compared after each start


def dst_changes(tz: ZoneInfo) -> list[datetime]:
    """Return the instants (UTC) at which `tz`'s offset changes during YEARS."""
    changes = []
    day = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    end = datetime(YEARS[-1] + 1, 1, 1, tzinfo=UTC)
    while day < end:
        following = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            low, high = 0, 86400  # bisect to the second
            while high - low > 1:
                middle = (low + high) // 2
                moment = day + timedelta(seconds=middle)
                if moment.astimezone(tz).utcoffset() == day.astimezone(tz).utcoffset():
                    low = middle
                else:
                    high = middle
            changes.append(day + timedelta(seconds=high))
        day = following
    return changes


def clock_field(rng: random.Random, top: int, near: list[int]) -> str:
    """A second, minute or hour field over 0..top, often naming values `near` the change."""
    roll = rng.random()
    if roll < 0.3:
        return "*"
    if roll < 0.45:
        return f"*/{rng.choice([2, 3, 5, 10, 15, 20, 30, 7, 11])}"
    if roll < 0.7:
        return str(rng.choice([*near, rng.randint(0, top)]))
    if roll < 0.85:
        low = rng.choice([*near, rng.randint(0, top - 1)]) % top
        high = rng.randint(low + 1, top)  # `a-a` is the syntax test's (below)
        step = rng.choice(["", "", f"/{rng.randint(1, 6)}"])
        return f"{low}-{high}{step}"
    values = {rng.choice(near), *rng.sample(range(top + 1), rng.randint(1, 3))}
    return ",".join(map(str, sorted(values)))


def day_fields(rng: random.Random, wall: datetime) -> tuple[str, str, str]:
    """Day-of-month, month and day-of-week fields that often match the change's day."""
    other = rng.choice([m for m in range(1, 13) if m != wall.month])
    month = rng.choice(
        ["*", "*", "*", str(wall.month), f"{min(wall.month, other)},{max(wall.month, other)}"]
    )
    dom, dow = "*", "*"
    roll = rng.random()
    if roll < 0.2:
        dom = rng.choice([str(wall.day), f"{max(1, wall.day - 2)}-{min(28, wall.day + 1)}"])
        dom = dom if wall.day <= 28 else "*/2"
    elif roll < 0.4:
        weekday = (wall.weekday() + 1) % 7  # cron counts from Sunday = 0
        dow = rng.choice([str(weekday), "1-5", "0,6", f"{weekday},{rng.randint(0, 6)}"])
    elif roll < 0.55:
        # Quartz's L and #, naming the change's day: most zones change on a last or nth Sunday.
        weekday = (wall.weekday() + 1) % 7
        last_week = wall.day + 7 > calendar.monthrange(wall.year, wall.month)[1]
        dow = rng.choice(
            [f"{weekday}#{(wall.day - 1) // 7 + 1}", f"{weekday}L" if last_week else "1L"]
        )
    elif roll < 0.6:
        dom = "L"
    return dom, month, dow


def draw(rng: random.Random, change: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """Return a random expression near `change`, and how cronsim is to read it."""
    before, after = (change - timedelta(seconds=1)).astimezone(tz), change.astimezone(tz)
    hours = clock_field(rng, 23, [before.hour, after.hour, (after.hour + 1) % 24])
    minutes = clock_field(rng, 59, [0, 15, 30, 45, before.minute, after.minute])
    dom, month, dow = day_fields(rng, after)
    five = f"{minutes} {hours} {dom} {month} {dow}"
    if rng.random() < 0.5:
        return five, five
    seconds = clock_field(rng, 59, [0, 30, 59])
    six = f"{seconds} {five}"
    if is_fixed_time(six):
        return f"0 {five}", five  # cronsim has no fixed-time 6-field expressions
    return six, six


class Stuck(Exception):
    """cronsim went round without finding the next time."""


class GuardedCronSim(cronsim.CronSim):
    """cronsim, stopped if one step ticks its clock more often than any real search needs.

    Its wildcard path can loop without end where a change moves the clock by a part of an
    hour (resetting the minute lands it back in the repeated range, and so on).
    """

    MAX_TICKS = 50_000  # a search over a whole day of seconds ticks far fewer times

    def __next__(self) -> datetime:
        self.ticks = 0
        return super().__next__()

    def tick(self, seconds: int = 1) -> None:
        self.ticks += 1
        if self.ticks > self.MAX_TICKS:
            raise Stuck
        super().tick(seconds)


def matches(expression: str, wall: datetime) -> bool:
    """Whether naive `wall` matches `expression`, by cronsim's own reading (no timezone)."""
    return next(cronsim.CronSim(expression, wall - timedelta(seconds=1))) == wall


def cronsim_fault(
    expression: str, tz: ZoneInfo, previous: datetime, ours: datetime, theirs: datetime
) -> str | None:
    """Name the way cronsim broke the rule it follows, when the rule's own terms show it.

    In the wildcard path cronsim builds some times by resetting the minute or the day
    (`replace(minute=0)`, midnight) and can land on a wall time the clock skips or reads twice:
    it then returns a time that does not exist, one no later than the previous occurrence, or
    steps past a real instant that matches.
    """
    if theirs <= previous:
        return "went back in time"
    wall = theirs.replace(tzinfo=None)
    if theirs.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        return "returned a wall time the clock skips"
    our_wall = ours.astimezone(tz).replace(tzinfo=None)
    if ours < theirs and matches(expression, our_wall):
        return "stepped past a real instant whose wall time matches"
    return None


def test_occurrences_agree_with_cronsim_across_every_dst_change():
    seed = int(os.environ.get("CRON_DST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"cron vs cronsim: seed {seed} (replay with CRON_DST_SEED={seed})")
    rng = random.Random(seed)
    started = time.monotonic()
    compared = expressions = changes_seen = never = 0
    kinds = {"fixed-time": 0, "wildcard": 0, "6-field": 0}
    faults, disagreements = [], []
    for zone in ZONES:
        tz = ZoneInfo(zone)
        changes = dst_changes(tz)
        assert len(changes) >= 2, f"{zone} has no DST change in {YEARS}"
        changes_seen += len(changes)
        for change in changes:
            for _ in range(EXPRESSIONS_PER_CHANGE):
                ours_expression, their_expression = draw(rng, change, tz)
                fixed = is_fixed_time(ours_expression)
                expressions += 1
                kinds["fixed-time" if fixed else "wildcard"] += 1
                kinds["6-field"] += len(ours_expression.split()) == 6
                start = change - timedelta(seconds=rng.randint(1, 3 * 3600))
                schedule = Schedule("cron", cron=ours_expression, timezone=zone)
                refusal = validate(schedule).get("cron")
                if refusal:
                    # 0L and 0#n can pin every wall time to the hour a change skips each
                    # year (`* * 2 * 9 0L` in Auckland): such a job is refused at creation.
                    never += 1
                    if f"never fires in {zone}" not in refusal[0] or fixed:
                        disagreements.append(f"{zone} {ours_expression!r} refused: {refusal}")
                    continue
                theirs = GuardedCronSim(their_expression, start.astimezone(tz))
                current = start
                for _ in range(OCCURRENCES):
                    previous, current = current, next_after(schedule, current)
                    compared += 1
                    try:
                        expected = next(theirs)
                    except (Stuck, StopIteration):
                        # StopIteration: cronsim found nothing in 50 years, though every
                        # expression drawn here comes round within 40 (`5#5` in February).
                        report = f"{zone} {ours_expression!r} from {start.astimezone(tz)}"
                        report += f": ours {current.astimezone(tz)}"
                        if fixed:
                            disagreements.append(f"{report}, cronsim stuck")
                        else:
                            faults.append((zone, f"cronsim went round or gave up: {report}"))
                        break
                    if current == expected.astimezone(UTC):
                        continue
                    report = (
                        f"{zone} {ours_expression!r} from {start.astimezone(tz)}: "
                        f"ours {current.astimezone(tz)}, cronsim {expected}"
                    )
                    fault = None
                    if not fixed:
                        fault = cronsim_fault(their_expression, tz, previous, current, expected)
                    if fault:
                        faults.append((zone, f"cronsim {fault}: {report}"))
                    else:
                        disagreements.append(report)
                    break  # the two walks part here
    elapsed = time.monotonic() - started
    print(
        f"cron vs cronsim: {expressions} expressions ({kinds}) in {len(ZONES)} zones, "
        f"{changes_seen} DST changes, {compared} occurrences compared, "
        f"{len(disagreements)} disagreements, {len(faults)} cronsim faults, "
        f"{never} refused as never firing in their zone, {elapsed:.1f} s"
    )
    for _, fault in faults[:10]:
        print(fault)
    assert not disagreements, f"seed {seed}: " + "\n".join(disagreements[:20])
    # cronsim's faults come only from changes that skip a part of an hour or a midnight.
    assert {zone for zone, _ in faults} <= ODD_CHANGES, f"seed {seed}: {faults[:5]}"


# --- The syntax, without a timezone ----------------------------------------------------------

SYNTAX_EXPRESSIONS = 2000
SYNTAX_OCCURRENCES = 4  # compared each way from a random start
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def syntax_item(rng: random.Random, low: int, high: int, names: tuple[str, ...] = ()) -> str:
    """One list item of a field over low..high: a value, a range, a step, maybe spelled."""
    start = rng.randint(low, high)
    spelled = names[start - low] if names and start - low < len(names) else str(start)
    roll = rng.random()
    if roll < 0.35:
        return spelled if rng.random() < 0.3 else str(start)
    if roll < 0.45:
        return f"{start}-{start}"  # one value (croniter read it as every value)
    if roll < 0.7:
        end = rng.randint(start, high)
        step = rng.choice(["", "", f"/{rng.randint(1, 5)}"]) if end > start else ""
        return f"{start}-{end}{step}"
    if roll < 0.85:
        return f"{start}/{rng.randint(1, 10)}"
    return f"*/{rng.randint(1, 10)}"


def syntax_field(
    rng: random.Random, low: int, high: int, star: float, names: tuple[str, ...] = ()
) -> str:
    if rng.random() < star:
        return "*"
    count = rng.choice([1, 1, 1, 2, 3])
    return ",".join(syntax_item(rng, low, high, names) for _ in range(count))


def syntax_days(rng: random.Random) -> tuple[str, str]:
    """Day-of-month and day-of-week fields, cron's either-or rule for them included."""
    roll = rng.random()
    if roll < 0.25:  # L alone or in a list
        extra = [str(rng.randint(1, 31)) for _ in range(rng.choice([0, 0, 1, 2]))]
        return ",".join(["L", *extra]), "*"
    if roll < 0.5:  # 5L and 1#2, alone or listed
        items = [
            f"{rng.randint(0, 7)}L"
            if rng.random() < 0.5
            else f"{rng.choice([str(rng.randint(0, 7)), *DAY_NAMES])}#{rng.randint(1, 5)}"
            for _ in range(rng.choice([1, 1, 2]))
        ]
        return "*", ",".join(items)
    # Both restricted: cron runs on days matching either. Neither starts with a star here:
    # a starred one means "both" to cron, which the scheduler refuses.
    day_of_month = "L" if roll < 0.6 else syntax_field(rng, 1, 31, star=0.3)
    day_of_week = syntax_field(rng, 0, 7, star=0.3, names=DAY_NAMES)
    if day_of_month != "*" and day_of_week != "*":
        day_of_month = day_of_month.replace("*/", "1-31/")
        day_of_week = day_of_week.replace("*/", "0-7/")
    return day_of_month, day_of_week


def syntax_expression(rng: random.Random) -> str:
    day_of_month, day_of_week = syntax_days(rng)
    fields = [
        syntax_field(rng, 0, 59, star=0.4),
        syntax_field(rng, 0, 23, star=0.4),
        day_of_month,
        syntax_field(rng, 1, 12, star=0.6, names=tuple(calendar.month_abbr[1:])),
        day_of_week,
    ]
    if rng.random() < 0.3:
        fields.insert(0, syntax_field(rng, 0, 59, star=0.3))
    return " ".join(fields)


def test_l_hash_ranges_steps_and_lists_agree_with_cronsim_both_ways():
    seed = int(os.environ.get("CRON_SYNTAX_SEED") or random.SystemRandom().randrange(2**32))
    print(f"cron syntax vs cronsim: seed {seed} (replay with CRON_SYNTAX_SEED={seed})")
    rng = random.Random(seed)
    started = time.monotonic()
    refused, disagreements = [], []
    compared = never = 0
    for _ in range(SYNTAX_EXPRESSIONS):
        expression = syntax_expression(rng)
        start = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randint(0, 3 * 365 * 86400)
        )
        naive = start.replace(tzinfo=None)
        try:
            forwards = cronsim.CronSim(expression, naive)
            expected = [next(forwards).replace(tzinfo=UTC) for _ in range(SYNTAX_OCCURRENCES)]
            backwards = cronsim.CronSim(expression, naive, reverse=True)
            expected_back = [next(backwards).replace(tzinfo=UTC) for _ in range(SYNTAX_OCCURRENCES)]
        except (cronsim.CronSimError, StopIteration):
            never += 1  # e.g. 30 in February only; the scheduler must refuse it too
            expected = expected_back = None
        errors = validate(Schedule("cron", cron=expression))
        if expected is None:
            if not errors:
                disagreements.append(f"{expression!r}: cronsim finds no date, we accept it")
            continue
        if errors:
            refused.append(f"{expression!r}: {errors}")
            continue
        schedule = Schedule("cron", cron=expression)
        ours, current = [], start
        for _ in range(SYNTAX_OCCURRENCES):
            current = next_after(schedule, current)
            ours.append(current)
        ours_back, current = [], start
        for _ in range(SYNTAX_OCCURRENCES):
            current = latest_cron(expression, UTC, current - timedelta(seconds=1))
            ours_back.append(current)
        compared += 2 * SYNTAX_OCCURRENCES
        if ours != expected or ours_back != expected_back:
            disagreements.append(
                f"{expression!r} from {start}: ours {ours} / {ours_back}, "
                f"cronsim {expected} / {expected_back}"
            )
    print(
        f"cron syntax vs cronsim: {SYNTAX_EXPRESSIONS} expressions, {compared} occurrences "
        f"compared, {never} that never fire, {len(refused)} refused, "
        f"{len(disagreements)} disagreements, {time.monotonic() - started:.1f} s"
    )
    assert not disagreements, f"seed {seed}: " + "\n".join(disagreements[:20])
    # Everything drawn is syntax both engines read alike: none of it may be refused.
    assert not refused, f"seed {seed}: " + "\n".join(refused[:20])
