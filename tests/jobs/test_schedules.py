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
        (Schedule("cron", cron="61 * * * *"), "cron", "Invalid cron expression"),
        (Schedule("cron", cron="* * *"), "cron", "Expected 5 fields"),
        (Schedule("cron", cron="@fortnightly"), "cron", "Unknown alias"),
        (Schedule("cron", cron=""), "cron", "needs a cron expression"),
        (Schedule("cron", cron="0 0 30 2 *"), "cron", "never matches"),
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
