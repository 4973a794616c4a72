"""Schedules: next runs, DST, leap days, month ends, and validation messages."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from jobs.schedules import Schedule, latest_at_or_before, next_after, plan_due, upcoming, validate

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def cron(expr, tz="UTC"):
    return Schedule("cron", cron=expr, timezone=tz)


def runs_between(schedule, start, end):
    times, current = [], start
    while True:
        current = next_after(schedule, current, anchor=current)
        if current is None or current > end:
            return times
        times.append(current)


def test_once_runs_at_its_time_and_then_never():
    at = utc(2030, 1, 1, 12)
    schedule = Schedule("once", run_at=at)
    assert next_after(schedule, utc(2029, 1, 1)) == at
    assert next_after(schedule, at) is None
    assert upcoming(schedule, 5, after=utc(2029, 1, 1)) == [at]


def test_interval_counts_from_its_anchor():
    schedule = Schedule("interval", interval_seconds=90)
    anchor = utc(2030, 1, 1, 0, 0, 0)
    assert next_after(schedule, anchor, anchor=anchor) == anchor + timedelta(seconds=90)
    # Late by several periods: the next occurrence stays on the anchor's grid.
    assert next_after(
        schedule, anchor + timedelta(seconds=200), anchor=anchor
    ) == anchor + timedelta(seconds=270)


def test_interval_ignores_dst():
    schedule = Schedule("interval", interval_seconds=3600, timezone="Europe/Berlin")
    start = utc(2025, 3, 30, 0, 30)
    times = upcoming(schedule, 3, after=start, first=start + timedelta(hours=1))
    assert [t - start for t in times] == [timedelta(hours=h) for h in (1, 2, 3)]


def test_cron_five_fields_in_utc():
    assert next_after(cron("30 2 * * *"), utc(2030, 1, 1, 3)) == utc(2030, 1, 2, 2, 30)


def test_cron_six_fields_take_seconds_first():
    times = upcoming(cron("*/5 * * * * *"), 3, after=utc(2030, 1, 1, 0, 0, 1))
    assert times == [utc(2030, 1, 1, 0, 0, 5), utc(2030, 1, 1, 0, 0, 10), utc(2030, 1, 1, 0, 0, 15)]


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", utc(2030, 5, 17, 11)),
        ("@daily", utc(2030, 5, 18)),
        ("@weekly", utc(2030, 5, 19)),  # Sunday
        ("@monthly", utc(2030, 6, 1)),
        ("@yearly", utc(2031, 1, 1)),
    ],
)
def test_cron_aliases(alias, expected):
    assert next_after(cron(alias), utc(2030, 5, 17, 10, 15)) == expected


def test_cron_runs_in_the_jobs_timezone():
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    schedule = cron("0 9 * * *", "America/New_York")
    assert next_after(schedule, utc(2030, 1, 15)) == utc(2030, 1, 15, 14)
    assert next_after(schedule, utc(2030, 7, 15)) == utc(2030, 7, 15, 13)


def test_results_are_aware_utc():
    result = next_after(cron("0 9 * * *", "Asia/Tokyo"), utc(2029, 12, 31, 23))
    assert result.tzinfo is UTC
    assert result == utc(2030, 1, 1, 0)


# --- DST ------------------------------------------------------------------------------


def test_berlin_spring_forward_daily_0230_runs_once_right_after_the_change():
    # 2025-03-30: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 does not exist.
    schedule = cron("30 2 * * *", "Europe/Berlin")
    runs = runs_between(schedule, utc(2025, 3, 29, 12), utc(2025, 3, 31, 12))
    assert runs == [utc(2025, 3, 30, 1, 0), utc(2025, 3, 31, 0, 30)]
    assert runs[0].astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"


def test_berlin_fall_back_daily_0230_runs_once_at_the_first_occurrence():
    # 2025-10-26: 03:00 CEST falls back to 02:00 CET; 02:30 happens at 00:30 and 01:30 UTC.
    schedule = cron("30 2 * * *", "Europe/Berlin")
    runs = runs_between(schedule, utc(2025, 10, 25, 12), utc(2025, 10, 27, 12))
    assert runs == [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)]
    assert runs[0].astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CEST"


def test_new_york_spring_forward_every_15_minutes_has_no_runs_in_the_skipped_hour():
    # 2025-03-09: 02:00 EST jumps to 03:00 EDT (07:00 UTC). A wildcard expression has no
    # occurrence in the skipped hour (02:00-02:45 never happen); it does not fire them at 03:00.
    schedule = cron("*/15 * * * *", "America/New_York")
    runs = runs_between(schedule, utc(2025, 3, 9, 6, 30), utc(2025, 3, 9, 7, 30))
    assert runs == [
        utc(2025, 3, 9, 6, 45),
        utc(2025, 3, 9, 7, 0),
        utc(2025, 3, 9, 7, 15),
        utc(2025, 3, 9, 7, 30),
    ]
    walls = [r.astimezone(NEW_YORK).strftime("%H:%M") for r in runs]
    assert walls == ["01:45", "03:00", "03:15", "03:30"]


def test_new_york_fall_back_hourly_fires_in_both_passes_of_the_repeated_hour():
    # 2025-11-02: 02:00 EDT falls back to 01:00 EST; 01:00 local happens twice. A wildcard
    # expression fires at every real instant whose wall time matches: both 01:00s.
    schedule = cron("0 * * * *", "America/New_York")
    runs = runs_between(schedule, utc(2025, 11, 2, 3, 30), utc(2025, 11, 2, 8, 30))
    walls = [r.astimezone(NEW_YORK).strftime("%H:%M %Z") for r in runs]
    assert walls == ["00:00 EDT", "01:00 EDT", "01:00 EST", "02:00 EST", "03:00 EST"]
    assert runs == [utc(2025, 11, 2, h) for h in (4, 5, 6, 7, 8)]  # one an hour, real time


def test_next_after_inside_the_repeated_hour_does_not_fire_the_repeat():
    schedule = cron("30 1 * * *", "America/New_York")
    # 06:15 UTC is 01:15 EST, the second pass through 01:xx: next run is tomorrow.
    assert next_after(schedule, utc(2025, 11, 2, 6, 15)) == utc(2025, 11, 3, 6, 30)


# --- Calendar edges ---------------------------------------------------------------------


def test_leap_day_cron_waits_for_the_next_leap_year():
    assert next_after(cron("0 0 29 2 *"), utc(2025, 3, 1)) == utc(2028, 2, 29)


def test_interval_across_a_leap_day():
    schedule = Schedule("interval", interval_seconds=86400)
    anchor = utc(2028, 2, 28, 12)
    assert upcoming(schedule, 2, after=anchor, first=anchor + timedelta(days=1)) == [
        utc(2028, 2, 29, 12),
        utc(2028, 3, 1, 12),
    ]


def test_monthly_from_the_31st_goes_to_the_first_of_next_month():
    assert next_after(cron("@monthly"), utc(2030, 1, 31, 8)) == utc(2030, 2, 1)


def test_day_31_runs_only_in_months_that_have_one():
    times = upcoming(cron("0 12 31 * *"), 4, after=utc(2030, 1, 31, 13))
    assert times == [
        utc(2030, 3, 31, 12),
        utc(2030, 5, 31, 12),
        utc(2030, 7, 31, 12),
        utc(2030, 8, 31, 12),
    ]


def test_upcoming_gives_n_times_in_order():
    times = upcoming(cron("0 * * * *"), 5, after=utc(2030, 1, 1, 0, 30))
    assert times == [utc(2030, 1, 1, h) for h in range(1, 6)]


# --- Quartz's L and #, and spellings croniter reads otherwise than cron --------------------


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        # L in the day of month: the month's last day, leap years included.
        ("0 0 L * *", utc(2032, 1, 15), [utc(2032, 1, 31), utc(2032, 2, 29), utc(2032, 3, 31)]),
        ("0 12 L 2 *", utc(2031, 3, 1), [utc(2032, 2, 29, 12), utc(2033, 2, 28, 12)]),
        ("0 0 1,15,L * *", utc(2030, 4, 20), [utc(2030, 4, 30), utc(2030, 5, 1), utc(2030, 5, 15)]),
        # 5L: the last Friday; 7L and 0L both the last Sunday.
        ("0 9 * * 5L", utc(2030, 1, 1), [utc(2030, 1, 25, 9), utc(2030, 2, 22, 9)]),
        ("0 9 * * FRIL", utc(2030, 1, 1), [utc(2030, 1, 25, 9), utc(2030, 2, 22, 9)]),
        ("0 9 * * 7L", utc(2030, 3, 1), [utc(2030, 3, 31, 9), utc(2030, 4, 28, 9)]),
        # 1#2: the second Monday; #5 skips months that have only four.
        ("0 9 * * 1#2", utc(2030, 1, 1), [utc(2030, 1, 14, 9), utc(2030, 2, 11, 9)]),
        ("0 9 * * mon#2", utc(2030, 1, 1), [utc(2030, 1, 14, 9), utc(2030, 2, 11, 9)]),
        ("0 9 * * 0#5", utc(2030, 1, 1), [utc(2030, 3, 31, 9), utc(2030, 6, 30, 9)]),
        ("0 9 * * 1#1,5L", utc(2030, 1, 1), [utc(2030, 1, 7, 9), utc(2030, 1, 25, 9)]),
        # Six fields: seconds first.
        ("30 0 9 * * 1#2", utc(2030, 1, 1), [utc(2030, 1, 14, 9, 0, 30)]),
        ("0 0 0 L * *", utc(2030, 1, 31, 1), [utc(2030, 2, 28)]),
        # croniter read a one-value range `59-59` as every value, firing every second.
        (
            "59-59 * * * * *",
            utc(2030, 1, 1),
            [utc(2030, 1, 1, 0, 0, 59), utc(2030, 1, 1, 0, 1, 59)],
        ),
        ("0 5-5 * * *", utc(2030, 1, 1), [utc(2030, 1, 1, 5), utc(2030, 1, 2, 5)]),
        # A step from the top of a field is that one value (`23/2` of hours).
        ("0 23/2 * * *", utc(2030, 1, 1), [utc(2030, 1, 1, 23), utc(2030, 1, 2, 23)]),
        # Day-of-week steps and ranges count Sunday as 7, as cron does: 1/2 is Mon Wed Fri Sun.
        ("0 0 * * 1/2", utc(2030, 1, 1), [utc(2030, 1, 2), utc(2030, 1, 4), utc(2030, 1, 6)]),
        ("0 0 * * 5-7", utc(2030, 1, 1), [utc(2030, 1, 4), utc(2030, 1, 5), utc(2030, 1, 6)]),
        # Both day fields restricted: either one (here the 22nd, 1st, 9th, ... or any Monday).
        ("0 0 22,*/8 * 1", utc(2030, 1, 1), [utc(2030, 1, 7), utc(2030, 1, 9), utc(2030, 1, 14)]),
    ],
)
def test_quartz_last_and_nth_days_and_cron_spellings(expression, after, expected):
    schedule = cron(expression)
    assert validate(schedule) == {}
    assert upcoming(schedule, len(expected), after=after) == expected


def test_the_latest_occurrence_of_a_last_day_schedule_is_found_backwards():
    schedule = cron("0 0 L * *")
    latest = latest_at_or_before(schedule, utc(2030, 3, 15), anchor=utc(2030, 1, 31))
    assert latest == utc(2030, 2, 28)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("0 0 L-2 * *", "day of month: 'L-2': L (the last day of the month) stands alone"),
        ("0 0 1-L * *", "day of month: '1-L'"),
        ("0 0 15W * *", "day of month: '15W': W (the nearest weekday) is not supported"),
        ("0 0 ? * *", "day of month: '?' is not supported"),
        ("0 0 * * L", "day of week: L needs a day before it"),
        ("0 0 * * L5", "day of week: 'L5': write the last weekday day first, as in 5L"),
        ("0 0 * * 1#6", "day of week: in '1#6' the week after # must be 1-5"),
        ("0 0 * * 1#0", "day of week: in '1#0' the week after # must be 1-5"),
        ("0 0 * * 1-5#2", "day of week: '1-5#2': L and # take one day"),
        ("0 0 * * 1#2,3", "day of week: 1#2 cannot share the field with plain days (3)"),
        ("0 0 L * 5L", "day of week: 5L (a weekday of the month) needs * in the day of month"),
        ("0 0 1 * 1#2", "day of week: 1#2 (a weekday of the month) needs *"),
        ("0 0 * * 8", "day of week: 8 is out of range (0-7)"),
        ("0 0 * * funday", "day of week: 'FUNDAY' is not a number 0-7 or a name (SUN-SAT)"),
        ("0 0 * smarch *", "month: 'SMARCH' is not a number 1-12 or a name (JAN-DEC)"),
        ("0 22-2 * * *", "hour: the range '22-2' runs backwards; write it as two ranges"),
        ("5-5/2 * * * *", "minute: the step in '5-5/2' runs over one value; write 5"),
        ("*/0 * * * *", "minute: the step in '*/0' must be a whole number, at least 1"),
        ("60 * * * * *", "second: 60 is out of range (0-59)"),
        ("R * * * *", "minute: 'R' is not a number 0-59"),  # croniter's random minute
        ("H * * * *", "minute: 'H' is not a number 0-59"),  # croniter's hashed minute
        ("0 0 */2 * 1-5", "day of month: */2 beside a day of week is read as 'both' by cron"),
        ("0 0 1,15 * */2", "day of week: */2 beside a day of month"),
    ],
)
def test_what_croniter_cannot_evaluate_right_is_refused_naming_the_field(expression, fragment):
    errors = validate(cron(expression))
    assert list(errors) == ["cron"], errors
    assert any(fragment in message for message in errors["cron"]), errors


# --- Misfire ----------------------------------------------------------------------------

GRACE = timedelta(seconds=60)


def test_run_once_after_downtime_runs_only_the_latest_missed_occurrence():
    schedule = Schedule("interval", interval_seconds=60)
    anchor = utc(2030, 1, 1, 0, 0)
    plan = plan_due(
        schedule,
        misfire_policy="run_once",
        next_run_at=anchor,
        now=anchor + timedelta(minutes=10, seconds=5),
        grace=GRACE,
    )
    assert plan.occurrences == [anchor + timedelta(minutes=10)]
    assert plan.next_run_at == anchor + timedelta(minutes=11)


def test_run_all_after_downtime_runs_every_missed_occurrence():
    schedule = cron("*/5 * * * *")
    start = utc(2030, 1, 1, 0, 0)
    plan = plan_due(
        schedule,
        misfire_policy="run_all",
        next_run_at=start,
        now=utc(2030, 1, 1, 0, 22),
        grace=GRACE,
    )
    assert plan.occurrences == [utc(2030, 1, 1, 0, m) for m in (0, 5, 10, 15, 20)]
    assert plan.next_run_at == utc(2030, 1, 1, 0, 25)


def test_skip_drops_occurrences_older_than_the_grace():
    schedule = cron("0 * * * *")
    plan = plan_due(
        schedule,
        misfire_policy="skip",
        next_run_at=utc(2030, 1, 1, 1),
        now=utc(2030, 1, 1, 5, 30),
        grace=GRACE,
    )
    assert plan.occurrences == []
    assert plan.next_run_at == utc(2030, 1, 1, 6)


def test_skip_runs_an_occurrence_that_is_on_time():
    schedule = cron("0 * * * *")
    plan = plan_due(
        schedule,
        misfire_policy="skip",
        next_run_at=utc(2030, 1, 1, 5),
        now=utc(2030, 1, 1, 5, 0, 2),
        grace=GRACE,
    )
    assert plan.occurrences == [utc(2030, 1, 1, 5)]


def test_latest_at_or_before_in_a_dst_zone():
    schedule = cron("30 2 * * *", "Europe/Berlin")
    assert latest_at_or_before(schedule, utc(2025, 3, 30, 12), anchor=utc(2025, 3, 20)) == utc(
        2025, 3, 30, 1
    )


# --- Validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "field", "fragment"),
    [
        (Schedule("cron", cron="61 * * * *"), "cron", "minute: 61 is out of range (0-59)"),
        (Schedule("cron", cron="* * *"), "cron", "Expected 5 fields"),
        (Schedule("cron", cron="@fortnightly"), "cron", "Unknown alias"),
        (Schedule("cron", cron=""), "cron", "needs a cron expression"),
        (Schedule("cron", cron="0 0 30 2 *"), "cron", "day of month: 30 never falls in month 2"),
        (Schedule("cron", cron="0 0 31 2,4,6 *"), "cron", "never matches a real date"),
        (Schedule("cron", cron="@daily", timezone="Mars/Olympus"), "timezone", "Unknown timezone"),
        (Schedule("interval", interval_seconds=0), "interval_seconds", "at least 1 second"),
        (Schedule("interval"), "interval_seconds", "needs interval_seconds"),
        (Schedule("once"), "run_at", "needs run_at"),
        (Schedule("once", run_at=datetime(2030, 1, 1)), "run_at", "timezone offset"),
        (Schedule("once", run_at=utc(2030, 1, 1), cron="@daily"), "cron", "belongs to cron jobs"),
        (
            Schedule("cron", cron="@daily", interval_seconds=5),
            "interval_seconds",
            "belongs to interval jobs",
        ),
        (
            Schedule("interval", interval_seconds=5, run_at=utc(2030, 1, 1)),
            "run_at",
            "belongs to one-time jobs",
        ),
        (Schedule("weekly"), "schedule_type", "Must be one of"),
    ],
)
def test_validation_names_the_field_and_the_problem(schedule, field, fragment):
    errors = validate(schedule)
    assert field in errors, errors
    assert any(fragment in message for message in errors[field]), errors


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule("cron", cron="*/5 * * * * *", timezone="Europe/Berlin"),
        Schedule("cron", cron="@hourly"),
        Schedule("interval", interval_seconds=1),
        Schedule("once", run_at=utc(2030, 1, 1)),
    ],
)
def test_valid_schedules_have_no_errors(schedule):
    assert validate(schedule) == {}
