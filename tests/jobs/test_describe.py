"""Schedules in words, as the admin's job list shows them."""

from datetime import UTC, datetime

import pytest

from jobs.describe import describe_cron, describe_interval, describe_schedule
from jobs.models import Job


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("30 2 * * *", "At 02:30, every day"),
        ("0 30 2 * * *", "At 02:30, every day"),
        ("*/5 * * * * *", "Every 5 seconds"),
        ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
        ("0 9,17 * * *", "At 09:00 and 17:00, every day"),
        ("@daily", "At 00:00, every day"),
        ("@hourly", "Every hour"),
        ("@monthly", "At 00:00, on day 1 of the month"),
        # Quartz's L and #.
        ("0 0 L * *", "At 00:00, on the last day of the month"),
        ("30 2 L 10 *", "At 02:30, on the last day of the month, only in October"),
        ("0 9 * * 5L", "At 09:00, on the last Friday of the month"),
        ("0 9 * * FRIL", "At 09:00, on the last Friday of the month"),
        ("0 9 * * 1#2", "At 09:00, on the second Monday of the month"),
        ("0 30 9 * * MON#2", "At 09:30, on the second Monday of the month"),
        ("0 9 1,15,L * *", "At 09:00, on day 1, day 15 and the last day of the month"),
        ("0 9 * * 1#1,1#3", "At 09:00, on the first Monday and the third Monday of the month"),
        (
            "0 9 * 1-6 5L,1#2",
            "At 09:00, on the last Friday and the second Monday of the month, January through June",
        ),
        # A one-value range reads as its value.
        ("59-59 * * * * *", "At 59 seconds past the minute"),
    ],
)
def test_cron_expressions_read_as_sentences(expression, words):
    assert describe_cron(expression) == words


@pytest.mark.parametrize("expression", ["0 9 1-5,L * *", "0 9 * * 1#9,2#1"])
def test_lists_of_last_and_nth_days_it_cannot_word_are_quoted(expression):
    assert describe_cron(expression) == f"Cron {expression}"


@pytest.mark.parametrize("expression", ["not a cron", "", "1 2 3"])
def test_what_cannot_be_read_is_quoted_not_guessed(expression):
    assert describe_cron(expression) == f"Cron {expression}"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(1, "Every second"), (90, "Every 90 seconds"), (300, "Every 5 minutes"), (86400, "Every day")],
)
def test_intervals_read_in_the_largest_unit_that_divides_them(seconds, words):
    assert describe_interval(seconds) == words


def test_a_one_time_job_reads_on_its_own_clock():
    job = Job(
        schedule_type="once",
        run_at=datetime(2030, 7, 1, 12, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
    )

    assert describe_schedule(job) == "Once, at 2030-07-01 14:00 (Europe/Berlin)"
