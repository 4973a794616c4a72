"""jobs.selectors.schedules: a schedule's next runs, their offsets and clock-change warnings."""

from datetime import datetime

from jobs.selectors.schedules import schedule_preview


def test_runs_across_a_clock_change_carry_a_warning():
    # The evening before Berlin's clocks go back (2027-10-31 03:00 CEST -> 02:00 CET).
    preview = schedule_preview(
        schedule_type="cron",
        cron="0 */6 * * *",
        timezone="Europe/Berlin",
        now=datetime.fromisoformat("2027-10-30T20:00:00+02:00"),
    )
    assert [run.utc_offset for run in preview.runs][:2] == ["+02:00", "+01:00"]
    assert [run.after_clock_change for run in preview.runs][:2] == [False, True]
    assert len(preview.warnings) == 1 and "clocks change" in preview.warnings[0]
