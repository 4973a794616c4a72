"""Quartz's L and # across daylight-saving changes: the DST rule holds for them too.

Most zones change clocks on a last or nth Sunday, so `0L` and `0#2` land on the change day
itself. A fixed-time expression (no `*` at the start of its clock fields) fires once per wall
time: a skipped one right after the change, a repeated one at its first pass. A wildcard one
fires at every real instant whose wall time matches: none in a skipped hour, both passes of a
repeated one. The dates are the 2027 changes, read as local wall time with the UTC offset.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from jobs.schedules import Schedule, next_after, validate


def local(zone, *args):
    return datetime(*args, tzinfo=ZoneInfo(zone))


def walls(expression, zone, since, until):
    """Run times of `expression` in `zone` after `since` up to `until`, as 'MM-DD HH:MM+hhmm'."""
    schedule = Schedule("cron", cron=expression, timezone=zone)
    assert validate(schedule) == {}
    found, current = [], since
    while (current := next_after(schedule, current)) <= until:
        found.append(current.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z"))
    return found


# --- Europe/Berlin: the last Sunday of March 02:00 -> 03:00, of October 03:00 -> 02:00


def test_berlin_last_sunday_of_march_at_a_skipped_time_fires_right_after_the_change():
    since, until = local("Europe/Berlin", 2027, 3, 1), local("Europe/Berlin", 2027, 4, 30)
    assert walls("30 2 * 3 0L", "Europe/Berlin", since, until) == ["03-28 03:00+0200"]
    assert walls("30 2 * 3 0#4", "Europe/Berlin", since, until) == ["03-28 03:00+0200"]


def test_berlin_last_day_of_october_at_a_repeated_time_fires_at_the_first_pass():
    since, until = local("Europe/Berlin", 2027, 10, 1), local("Europe/Berlin", 2027, 11, 1)
    assert walls("30 2 L 10 *", "Europe/Berlin", since, until) == ["10-31 02:30+0200"]
    assert walls("0 2 * 10 SUN#5", "Europe/Berlin", since, until) == ["10-31 02:00+0200"]
    assert walls("0 30 2 * 10 0L", "Europe/Berlin", since, until) == ["10-31 02:30+0200"]


def test_berlin_wildcard_on_the_last_day_fires_in_both_passes_of_the_repeated_hour():
    since, until = local("Europe/Berlin", 2027, 10, 1), local("Europe/Berlin", 2027, 11, 1)
    assert walls("*/30 2 L 10 *", "Europe/Berlin", since, until) == [
        "10-31 02:00+0200",
        "10-31 02:30+0200",
        "10-31 02:00+0100",
        "10-31 02:30+0100",
    ]


def test_a_wildcard_that_only_names_the_skipped_hour_never_fires_and_is_refused():
    # The last Sunday of March is Berlin's change every year: 02:xx never happens on it.
    errors = validate(Schedule("cron", cron="*/30 2 * 3 0L", timezone="Europe/Berlin"))
    assert errors == {
        "cron": [
            "'*/30 2 * 3 0L' never fires in Europe/Berlin: every time it names falls in an "
            "hour the clocks skip when they go forward."
        ]
    }
    # The same expression fires in a zone whose clocks do not change then.
    assert validate(Schedule("cron", cron="*/30 2 * 3 0L", timezone="Asia/Tokyo")) == {}


# --- America/New_York: the second Sunday of March 02:00 -> 03:00, first of November 02:00 -> 01:00


def test_new_york_second_sunday_of_march_fixed_time_fires_at_the_change():
    since, until = local("America/New_York", 2027, 3, 1), local("America/New_York", 2027, 3, 31)
    assert walls("30 2 * 3 0#2", "America/New_York", since, until) == ["03-14 03:00-0400"]


def test_new_york_first_sunday_of_november_fixed_and_wildcard():
    since = local("America/New_York", 2027, 11, 1)
    until = local("America/New_York", 2027, 11, 30)
    assert walls("30 1 * 11 0#1", "America/New_York", since, until) == ["11-07 01:30-0400"]
    assert walls("*/30 1 * 11 SUN#1", "America/New_York", since, until) == [
        "11-07 01:00-0400",
        "11-07 01:30-0400",
        "11-07 01:00-0500",
        "11-07 01:30-0500",
    ]


# --- Australia/Lord_Howe: 30-minute changes on the first Sundays of April and October


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("45 1 * 4 0#1", ["04-04 01:45+1100"]),  # fixed: the first pass only
        (
            "*/15 1 * 4 0#1",  # wildcard: 01:30 and 01:45 twice
            [
                "04-04 01:00+1100",
                "04-04 01:15+1100",
                "04-04 01:30+1100",
                "04-04 01:45+1100",
                "04-04 01:30+1030",
                "04-04 01:45+1030",
            ],
        ),
    ],
)
def test_lord_howe_first_sunday_of_april_repeats_half_an_hour(expression, expected):
    since = local("Australia/Lord_Howe", 2027, 4, 1)
    until = local("Australia/Lord_Howe", 2027, 4, 30)
    assert walls(expression, "Australia/Lord_Howe", since, until) == expected


def test_lord_howe_first_sunday_of_october_skips_half_an_hour():
    since = local("Australia/Lord_Howe", 2027, 10, 1)
    until = local("Australia/Lord_Howe", 2027, 10, 31)
    assert walls("15 2 * 10 0#1", "Australia/Lord_Howe", since, until) == ["10-03 02:30+1100"]
    assert walls("*/15 2 * 10 0#1", "Australia/Lord_Howe", since, until) == [
        "10-03 02:30+1100",
        "10-03 02:45+1100",
    ]


# --- Pacific/Chatham: 02:45 -> 03:45 on the last Sunday of September


def test_chatham_last_sunday_of_september_fixed_and_wildcard():
    since, until = local("Pacific/Chatham", 2027, 9, 1), local("Pacific/Chatham", 2027, 9, 30)
    assert walls("0 3 * 9 0L", "Pacific/Chatham", since, until) == ["09-26 03:45+1345"]
    # 03:00-03:30 are skipped; 03:45 is the first wall time after the change.
    assert walls("*/15 3 * 9 0L", "Pacific/Chatham", since, until) == ["09-26 03:45+1345"]
    schedule = Schedule("cron", cron="*/30 3 * 9 0L", timezone="Pacific/Chatham")
    assert "never fires in Pacific/Chatham" in validate(schedule)["cron"][0]
    assert walls("0 */2 * 9 0L", "Pacific/Chatham", since, until) == [
        "09-26 00:00+1245",
        "09-26 02:00+1245",
        "09-26 04:00+1345",
        "09-26 06:00+1345",
        "09-26 08:00+1345",
        "09-26 10:00+1345",
        "09-26 12:00+1345",
        "09-26 14:00+1345",
        "09-26 16:00+1345",
        "09-26 18:00+1345",
        "09-26 20:00+1345",
        "09-26 22:00+1345",
    ]
