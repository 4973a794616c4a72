"""Cron across daylight-saving changes: the rule cron itself follows, zone by zone.

Fixed-time expressions (no `*` at the start of the second, minute or hour field) fire once per
wall time: a skipped one right after the change, a repeated one at its first pass. Wildcard
expressions fire at every real instant whose wall time matches: none in a skipped hour, in
both passes of a repeated one. The dates are the 2027 changes; times read as local wall time
with its UTC offset. Instants in the repeated hour are compared in UTC: aware datetimes of
one zone that differ only by `fold` compare equal.
"""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from jobs.cron_time import is_fixed_time
from jobs.schedules import Schedule, latest_at_or_before, next_after, plan_due, upcoming_runs

GRACE = timedelta(seconds=60)


def local(zone, *args, fold=0):
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


def walls(expression, zone, since, until):
    """Run times of `expression` in `zone` after `since` up to `until`, as 'MM-DD HH:MM+hhmm'."""
    schedule = Schedule("cron", cron=expression, timezone=zone)
    found, current = [], since
    while (current := next_after(schedule, current)) <= until:
        found.append(current.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z"))
    return found


@pytest.mark.parametrize(
    ("expression", "fixed"),
    [
        ("30 2 * * *", True),
        ("0 0-3 * * 1-5", True),
        ("@daily", True),
        ("@weekly", True),
        ("@monthly", True),
        ("@yearly", True),
        ("0 30 2 * * *", True),  # six fields: seconds first
        ("*/15 * * * *", False),
        ("0 * * * *", False),
        ("0 */2 * * *", False),
        ("@hourly", False),
        ("* 30 2 * * *", False),  # every second of 02:30
        ("0 */5 2 * * *", False),
    ],
)
def test_an_expression_is_fixed_time_when_no_clock_field_starts_with_a_star(expression, fixed):
    assert is_fixed_time(expression) is fixed


# --- Europe/Berlin: 02:00 CET -> 03:00 CEST on 28 March, 03:00 CEST -> 02:00 CET on 31 October


def test_berlin_fixed_time_in_the_skipped_hour_fires_once_right_after_the_change():
    since, until = local("Europe/Berlin", 2027, 3, 27, 12), local("Europe/Berlin", 2027, 3, 29, 12)
    assert walls("30 2 * * *", "Europe/Berlin", since, until) == [
        "03-28 03:00+0200",
        "03-29 02:30+0200",
    ]
    # Several skipped times of one expression still fire once.
    assert walls("0,15,30 2 * * *", "Europe/Berlin", since, until) == [
        "03-28 03:00+0200",
        "03-29 02:00+0200",
        "03-29 02:15+0200",
        "03-29 02:30+0200",
    ]


def test_berlin_wildcard_has_no_runs_in_the_skipped_hour():
    since = local("Europe/Berlin", 2027, 3, 28, 1, 30)
    until = local("Europe/Berlin", 2027, 3, 28, 3, 30)
    assert walls("*/15 * * * *", "Europe/Berlin", since, until) == [
        "03-28 01:45+0100",
        "03-28 03:00+0200",
        "03-28 03:15+0200",
        "03-28 03:30+0200",
    ]


def test_berlin_fixed_time_in_the_repeated_hour_fires_once_at_the_first_pass():
    since, until = local("Europe/Berlin", 2027, 10, 30, 12), local("Europe/Berlin", 2027, 11, 1, 12)
    assert walls("30 2 * * *", "Europe/Berlin", since, until) == [
        "10-31 02:30+0200",
        "11-01 02:30+0100",
    ]


def test_berlin_every_15_minutes_keeps_running_through_the_repeated_hour():
    # The case: after 02:45 CEST come the four runs of the repeated hour, not 03:00 CET.
    since = local("Europe/Berlin", 2027, 10, 31, 2, 30)
    until = local("Europe/Berlin", 2027, 10, 31, 3, 0)
    assert walls("*/15 * * * *", "Europe/Berlin", since, until) == [
        "10-31 02:45+0200",
        "10-31 02:00+0100",
        "10-31 02:15+0100",
        "10-31 02:30+0100",
        "10-31 02:45+0100",
        "10-31 03:00+0100",
    ]


def test_berlin_hourly_alias_is_wildcard_and_daily_is_fixed_time():
    since = local("Europe/Berlin", 2027, 10, 31, 0, 30)
    until = local("Europe/Berlin", 2027, 10, 31, 3, 0)
    assert walls("@hourly", "Europe/Berlin", since, until) == [
        "10-31 01:00+0200",
        "10-31 02:00+0200",
        "10-31 02:00+0100",
        "10-31 03:00+0100",
    ]
    assert walls("@daily", "Europe/Berlin", since, since + timedelta(days=2)) == [
        "11-01 00:00+0100",
        "11-02 00:00+0100",
    ]


def test_berlin_six_field_expressions_follow_the_same_rule():
    # Fixed-time with seconds: a skipped 02:30:15 fires at the change; every 20 seconds keeps
    # running through the repeated hour.
    schedule = Schedule("cron", cron="15 30 2 * * *", timezone="Europe/Berlin")
    assert next_after(schedule, local("Europe/Berlin", 2027, 3, 28, 1)) == datetime(
        2027, 3, 28, 1, 0, tzinfo=UTC
    )
    every_20s = Schedule("cron", cron="*/20 * * * * *", timezone="Europe/Berlin")
    after = local("Europe/Berlin", 2027, 10, 31, 2, 59, 40)
    assert next_after(every_20s, after) == datetime(2027, 10, 31, 1, 0, tzinfo=UTC)  # 02:00 CET


# --- America/New_York: 02:00 EST -> 03:00 EDT on 14 March, 02:00 EDT -> 01:00 EST on 7 November


def test_new_york_fixed_time_in_the_skipped_hour_fires_once_right_after_the_change():
    since = local("America/New_York", 2027, 3, 14)
    assert walls("30 2 * * *", "America/New_York", since, since + timedelta(hours=23)) == [
        "03-14 03:00-0400"
    ]


def test_new_york_wildcard_has_no_runs_in_the_skipped_hour():
    since = local("America/New_York", 2027, 3, 14, 1)
    until = local("America/New_York", 2027, 3, 14, 4)
    assert walls("*/30 * * * *", "America/New_York", since, until) == [
        "03-14 01:30-0500",
        "03-14 03:00-0400",
        "03-14 03:30-0400",
        "03-14 04:00-0400",
    ]


def test_new_york_fixed_time_in_the_repeated_hour_fires_once_at_the_first_pass():
    since = local("America/New_York", 2027, 11, 7)
    assert walls("30 1 * * *", "America/New_York", since, since + timedelta(hours=23)) == [
        "11-07 01:30-0400"
    ]


def test_new_york_wildcard_fires_in_both_passes_of_the_repeated_hour():
    since = local("America/New_York", 2027, 11, 6, 23, 30)
    until = local("America/New_York", 2027, 11, 7, 2)
    assert walls("0 * * * *", "America/New_York", since, until) == [
        "11-07 00:00-0400",
        "11-07 01:00-0400",
        "11-07 01:00-0500",
        "11-07 02:00-0500",
    ]


def test_new_york_from_inside_the_second_pass_the_next_wildcard_run_is_in_it():
    after = local("America/New_York", 2027, 11, 7, 1, 10, fold=1)  # 01:10 EST
    schedule = Schedule("cron", cron="*/30 * * * *", timezone="America/New_York")
    assert next_after(schedule, after) == datetime(2027, 11, 7, 6, 30, tzinfo=UTC)  # 01:30 EST
    fixed = Schedule("cron", cron="30 1 * * *", timezone="America/New_York")
    assert next_after(fixed, after) == datetime(2027, 11, 8, 6, 30, tzinfo=UTC)  # tomorrow


# --- Australia/Lord_Howe: 30-minute DST. 02:00 -> 02:30 (+11) on 3 October; 02:00 (+11) ->
# 01:30 (+10:30) on 4 April (southern hemisphere: the clocks go back in autumn, in April).


def test_lord_howe_fixed_time_in_the_skipped_half_hour_fires_right_after_the_change():
    since = local("Australia/Lord_Howe", 2027, 10, 3)
    assert walls("15 2 * * *", "Australia/Lord_Howe", since, since + timedelta(hours=23)) == [
        "10-03 02:30+1100"
    ]


def test_lord_howe_wildcard_has_no_runs_in_the_skipped_half_hour():
    since = local("Australia/Lord_Howe", 2027, 10, 3, 1, 45)
    until = local("Australia/Lord_Howe", 2027, 10, 3, 2, 40)
    assert walls("*/10 * * * *", "Australia/Lord_Howe", since, until) == [
        "10-03 01:50+1030",
        "10-03 02:30+1100",
        "10-03 02:40+1100",
    ]


def test_lord_howe_fixed_time_in_the_repeated_half_hour_fires_once_at_the_first_pass():
    since = local("Australia/Lord_Howe", 2027, 4, 4)
    assert walls("45 1 * * *", "Australia/Lord_Howe", since, since + timedelta(hours=23)) == [
        "04-04 01:45+1100"
    ]


def test_lord_howe_wildcard_fires_in_both_passes_of_the_repeated_half_hour():
    since = local("Australia/Lord_Howe", 2027, 4, 4, 1, 20)
    until = local("Australia/Lord_Howe", 2027, 4, 4, 2)
    assert walls("*/15 * * * *", "Australia/Lord_Howe", since, until) == [
        "04-04 01:30+1100",
        "04-04 01:45+1100",
        "04-04 01:30+1030",
        "04-04 01:45+1030",
        "04-04 02:00+1030",
    ]


# --- Pacific/Chatham: 45-minute offsets. 02:45 (+12:45) -> 03:45 (+13:45) on 26 September;
# 03:45 (+13:45) -> 02:45 (+12:45) on 4 April.


def test_chatham_fixed_time_in_the_skipped_hour_fires_right_after_the_change():
    since = local("Pacific/Chatham", 2027, 9, 26)
    assert walls("0 3 * * *", "Pacific/Chatham", since, since + timedelta(hours=23)) == [
        "09-26 03:45+1345"
    ]


def test_chatham_wildcard_has_no_runs_in_the_skipped_hour():
    since = local("Pacific/Chatham", 2027, 9, 26, 1, 30)
    until = local("Pacific/Chatham", 2027, 9, 26, 4)
    assert walls("*/15 * * * *", "Pacific/Chatham", since, until) == [
        "09-26 01:45+1245",
        "09-26 02:00+1245",
        "09-26 02:15+1245",
        "09-26 02:30+1245",
        "09-26 03:45+1345",
        "09-26 04:00+1345",
    ]
    # An hour field that skips the change's hour does not lose the next one.
    assert walls("*/15 2,4 * * *", "Pacific/Chatham", since, until)[-2:] == [
        "09-26 02:30+1245",
        "09-26 04:00+1345",
    ]


def test_chatham_fixed_time_in_the_repeated_hour_fires_once_at_the_first_pass():
    since = local("Pacific/Chatham", 2027, 4, 4)
    assert walls("0 3 * * *", "Pacific/Chatham", since, since + timedelta(hours=23)) == [
        "04-04 03:00+1345"
    ]


def test_chatham_wildcard_fires_in_both_passes_of_the_repeated_hour():
    since = local("Pacific/Chatham", 2027, 4, 4, 1, 30)
    until = local("Pacific/Chatham", 2027, 4, 4, 4)
    assert walls("0 * * * *", "Pacific/Chatham", since, until) == [
        "04-04 02:00+1345",
        "04-04 03:00+1345",
        "04-04 03:00+1245",
        "04-04 04:00+1245",
    ]


# --- A half-hour zone, and changes at midnight --------------------------------------------


def test_st_johns_half_hour_zone_both_directions():
    spring = local("America/St_Johns", 2027, 3, 14)
    assert walls("30 2 * * *", "America/St_Johns", spring, spring + timedelta(hours=23)) == [
        "03-14 03:00-0230"
    ]
    autumn = local("America/St_Johns", 2027, 11, 7, 0, 45)
    until = local("America/St_Johns", 2027, 11, 7, 2, 15)
    assert walls("*/30 * * * *", "America/St_Johns", autumn, until) == [
        "11-07 01:00-0230",
        "11-07 01:30-0230",
        "11-07 01:00-0330",
        "11-07 01:30-0330",
        "11-07 02:00-0330",
    ]


def test_havana_midnight_skipped_fires_daily_jobs_at_one_and_wildcards_not_at_all():
    # 14 March: 00:00 CST -> 01:00 CDT, so that day has no 00:xx.
    since = local("America/Havana", 2027, 3, 13, 0, 40)
    until = local("America/Havana", 2027, 3, 15, 0, 40)
    assert walls("@daily", "America/Havana", since, until) == [
        "03-14 01:00-0400",
        "03-15 00:00-0400",
    ]
    assert walls("*/20 0 * * *", "America/Havana", since, until) == [
        "03-15 00:00-0400",
        "03-15 00:20-0400",
        "03-15 00:40-0400",
    ]


def test_havana_repeated_midnight_hour():
    # 7 November: 01:00 CDT -> 00:00 CST, so 00:00-00:59 happens twice.
    since = local("America/Havana", 2027, 11, 6, 12)
    until = local("America/Havana", 2027, 11, 7, 12)
    assert walls("@daily", "America/Havana", since, until) == ["11-07 00:00-0400"]
    assert walls("*/30 0 * * *", "America/Havana", since, until) == [
        "11-07 00:00-0400",
        "11-07 00:30-0400",
        "11-07 00:00-0500",
        "11-07 00:30-0500",
    ]


def test_santiago_southern_hemisphere_changes_at_midnight():
    # 3-4 April: midnight (-03) goes back to 23:00 (-04) on the 3rd; 5 September: 00:00 (-04)
    # jumps to 01:00 (-03).
    autumn = local("America/Santiago", 2027, 4, 3, 12)
    assert walls("0 23 * * *", "America/Santiago", autumn, autumn + timedelta(hours=24)) == [
        "04-03 23:00-0300"
    ]
    assert walls("*/30 23 * * *", "America/Santiago", autumn, autumn + timedelta(hours=24)) == [
        "04-03 23:00-0300",
        "04-03 23:30-0300",
        "04-03 23:00-0400",
        "04-03 23:30-0400",
    ]
    spring = local("America/Santiago", 2027, 9, 4, 12)
    assert walls("@daily", "America/Santiago", spring, spring + timedelta(hours=24)) == [
        "09-05 01:00-0300"
    ]
    assert walls("*/30 0 * * *", "America/Santiago", spring, spring + timedelta(hours=24)) == []


# --- Upcoming runs and misfire catch-up across a change -----------------------------------


def test_upcoming_runs_list_both_passes_of_the_repeated_hour():
    job = SimpleNamespace(
        state="active",
        schedule_type="cron",
        cron="*/30 * * * *",
        timezone="Europe/Berlin",
        run_at=None,
        interval_seconds=None,
        next_run_at=local("Europe/Berlin", 2027, 10, 31, 2, 30).astimezone(UTC),
    )
    runs = upcoming_runs(job, now=job.next_run_at, n=4)
    assert [run.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M%z") for run in runs] == [
        "02:30+0200",
        "02:00+0100",
        "02:30+0100",
        "03:00+0100",
    ]


def test_run_all_catch_up_over_the_backward_change_keeps_every_real_occurrence():
    schedule = Schedule("cron", cron="*/15 * * * *", timezone="Europe/Berlin")
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST
    plan = plan_due(
        schedule,
        misfire_policy="run_all",
        next_run_at=first,
        now=datetime(2027, 10, 31, 2, 5, tzinfo=UTC),  # 03:05 CET
        grace=GRACE,
    )
    # Every 15 minutes of real time, through both passes of 02:xx.
    assert plan.occurrences == [first + timedelta(minutes=15 * k) for k in range(7)]
    assert plan.next_run_at == datetime(2027, 10, 31, 2, 15, tzinfo=UTC)


def test_run_all_catch_up_over_the_backward_change_runs_a_fixed_time_once():
    schedule = Schedule("cron", cron="30 2 * * *", timezone="Europe/Berlin")
    first = datetime(2027, 10, 30, 0, 30, tzinfo=UTC)
    plan = plan_due(
        schedule,
        misfire_policy="run_all",
        next_run_at=first,
        now=datetime(2027, 11, 1, 12, tzinfo=UTC),
        grace=GRACE,
    )
    assert plan.occurrences == [
        first,
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first pass
        datetime(2027, 11, 1, 1, 30, tzinfo=UTC),
    ]


def test_run_all_catch_up_over_the_forward_change_skips_the_missing_hour():
    schedule = Schedule("cron", cron="*/30 * * * *", timezone="America/New_York")
    first = local("America/New_York", 2027, 3, 14, 1).astimezone(UTC)
    plan = plan_due(
        schedule,
        misfire_policy="run_all",
        next_run_at=first,
        now=local("America/New_York", 2027, 3, 14, 3, 10).astimezone(UTC),
        grace=GRACE,
    )
    assert plan.occurrences == [first, first + timedelta(minutes=30), first + timedelta(hours=1)]


def test_run_once_after_downtime_into_the_second_pass_runs_its_latest_occurrence():
    schedule = Schedule("cron", cron="0 * * * *", timezone="America/New_York")
    plan = plan_due(
        schedule,
        misfire_policy="run_once",
        next_run_at=datetime(2027, 11, 7, 4, tzinfo=UTC),  # 00:00 EDT
        now=datetime(2027, 11, 7, 6, 30, tzinfo=UTC),  # 01:30 EST
        grace=GRACE,
    )
    assert plan.occurrences == [datetime(2027, 11, 7, 6, tzinfo=UTC)]  # 01:00 EST
    assert plan.next_run_at == datetime(2027, 11, 7, 7, tzinfo=UTC)  # 02:00 EST


def test_latest_occurrence_seen_from_the_second_pass_of_a_fixed_time_is_its_first_pass():
    schedule = Schedule("cron", cron="30 1 * * *", timezone="America/New_York")
    now = local("America/New_York", 2027, 11, 7, 1, 15, fold=1)  # 01:15 EST
    assert latest_at_or_before(schedule, now, anchor=datetime(2027, 11, 1, tzinfo=UTC)) == datetime(
        2027, 11, 7, 5, 30, tzinfo=UTC
    )  # 01:30 EDT, 45 minutes before


@pytest.mark.parametrize(
    ("zone", "change"),
    [
        ("Europe/Berlin", datetime(2027, 10, 31, 1, tzinfo=UTC)),
        ("America/New_York", datetime(2027, 3, 14, 7, tzinfo=UTC)),
        ("Australia/Lord_Howe", datetime(2027, 4, 3, 15, tzinfo=UTC)),
        ("Pacific/Chatham", datetime(2027, 4, 3, 14, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("expression", ["*/15 * * * *", "0 * * * *", "30 1,2,3 * * *", "@daily"])
def test_the_latest_occurrence_is_the_one_the_next_after_it_passes(zone, change, expression):
    # Seen from every 7 minutes around the change, latest <= now < the next occurrence.
    schedule = Schedule("cron", cron=expression, timezone=zone)
    anchor = change - timedelta(days=2)
    for minutes in range(-180, 181, 7):
        now = change + timedelta(minutes=minutes)
        latest = latest_at_or_before(schedule, now, anchor=anchor)
        assert latest <= now < next_after(schedule, latest), (now, latest)
