"""Cron syntax: what each field of a cron expression may say, and the form croniter reads right.

croniter evaluates the scheduler's cron expressions, but it reads a few spellings otherwise
than cron (Vixie cron, cronie) and Quartz do; an independent engine, cronsim, showed where
(tests/jobs/test_cron_vs_cronsim.py). This module reads an expression field by field, refuses
what cannot be evaluated right with a message that names the field, and writes the rest in
the spelling croniter reads as cron does:

- `a-a` is the single value `a` (croniter reads it as a range all the way round: `59-59` in
  the seconds field fired every second);
- a day-of-week step or range counts Sunday as 0 and 7, as cron does (croniter stops at 6:
  `1/2` lost its Sunday), so day-of-week items are written as the days they name;
- Quartz's `5L` (the last Friday of the month) is croniter's `L5`; `1#2` (the second Monday)
  and `L` in the day of month (the month's last day) are read as they are.

Refused, each for a reason named in its message: ranges that run backwards (croniter wraps
them round, cron refuses them), a step over a one-value range (engines disagree), `W`, `?`,
`H` and `R` (croniter's random and hashed fields would fire at different times on each
worker), `L-n` and `L` in a range, `5L`/`1#2` mixed with plain days or beside a day of month
(cron runs on either day, croniter only on days matching both).
"""

import re
from dataclasses import dataclass


class CronSyntaxError(ValueError):
    """A cron field the scheduler cannot evaluate right; the message names the field."""


@dataclass(frozen=True)
class Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # spelled values, from `low` on

    def value(self, text: str) -> int:
        """Return the number `text` stands for in this field."""
        if text in self.names:
            return self.low + self.names.index(text)
        if not text.isdigit():
            kind = f"a number {self.low}-{self.high}"
            if self.names:
                kind += f" or a name ({self.names[0]}-{self.names[-1]})"
            raise self.error(f"{text!r} is not {kind}.")
        number = int(text)
        if not self.low <= number <= self.high:
            raise self.error(f"{number} is out of range ({self.low}-{self.high}).")
        return number

    def error(self, message: str) -> CronSyntaxError:
        return CronSyntaxError(f"{self.name}: {message}")


MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
SECOND = Field("second", 0, 59)
MINUTE = Field("minute", 0, 59)
HOUR = Field("hour", 0, 23)
DAY_OF_MONTH = Field("day of month", 1, 31)
MONTH = Field("month", 1, 12, MONTH_NAMES)
# 7 is Sunday as well as 0, as in cron.
DAY_OF_WEEK = Field("day of week", 0, 7, DAY_NAMES)
FIVE_FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)
SIX_FIELDS = (SECOND, *FIVE_FIELDS)

WEEKS = range(1, 6)  # `1#5`: a month has at most five of each weekday
ITEM = re.compile(r"(?P<start>\*|\w+)(?:-(?P<end>\w+))?(?:/(?P<step>\w+))?")


def croniter_form(expression: str) -> str:
    """Return `expression` spelled as croniter reads it right, or raise CronSyntaxError.

    Aliases (`@daily`) are returned as they are; the number of fields is checked by the caller.
    """
    expression = expression.strip()
    if expression.startswith("@"):
        return expression
    texts = expression.upper().split()
    fields = SIX_FIELDS if len(texts) == 6 else FIVE_FIELDS
    items = [_field(field, text) for field, text in zip(fields, texts, strict=True)]
    _check_day_fields(texts[-3], texts[-1], items[-1])
    return " ".join(items)


def _check_day_fields(day_of_month: str, day_of_week: str, written: str) -> None:
    """Refuse the pairs of day fields croniter does not read as cron does.

    When both day fields are restricted, cron runs on days that match either, except that
    a field starting with `*` (`*/2`) makes it days that match both; croniter reads both
    cases as either, and reads 5L or 1#2 beside a day of month as both.
    """
    if day_of_month == "*" or day_of_week == "*":
        return
    if "L" in written or "#" in written:
        raise DAY_OF_WEEK.error(
            f"{day_of_week} (a weekday of the month) needs * in the day of month, "
            f"not {day_of_month}."
        )
    for field, text, other in (
        (DAY_OF_MONTH, day_of_month, DAY_OF_WEEK),
        (DAY_OF_WEEK, day_of_week, DAY_OF_MONTH),
    ):
        if text.startswith("*"):
            unstarred = text.replace("*", f"{field.low}-{field.high}", 1)
            raise field.error(
                f"{text} beside a {other.name} is read as 'both' by cron and 'either' by "
                f"croniter; write it without the star ({unstarred}) "
                f"to run on days matching either, or leave the {other.name} *."
            )


def _field(field: Field, text: str) -> str:
    if text == "*":
        return text
    parts = text.split(",")
    if field is DAY_OF_WEEK:
        return _day_of_week(parts)
    return ",".join(_item(field, part, alone=len(parts) == 1) for part in parts)


def _item(field: Field, text: str, *, alone: bool = True) -> str:
    """Return one item of a list (`5`, `1-5`, `*/15`, `10-50/5`, `L`), checked and respelled."""
    if field is DAY_OF_MONTH and "L" in text:
        if text == "L":
            return "L"
        raise field.error(
            f"{text!r}: L (the last day of the month) stands alone or in a list, as in L or 1,15,L."
        )
    if field is DAY_OF_MONTH and "W" in text:
        raise field.error(f"{text!r}: W (the nearest weekday) is not supported.")
    if text == "?":
        raise field.error("'?' is not supported; use *.")
    match = ITEM.fullmatch(text)
    if match is None:
        raise field.error(f"{text!r} is not a value, a range (a-b) or a step (a-b/n, */n).")
    start, end, step = match["start"], match["end"], match["step"]
    if step is not None:
        if not step.isdigit() or int(step) < 1:
            raise field.error(f"the step in {text!r} must be a whole number, at least 1.")
        step = int(step)
    if start == "*":
        if end is not None:
            raise field.error(f"{text!r}: * cannot start a range.")
        # croniter misreads a star inside a list (`22,*/8` of days ran on 22, 1, 9, ...
        # only, whatever the day of week), so there it is written as the range it stands for.
        star = "*" if alone else f"{field.low}-{field.high}"
        return star if step is None else f"{star}/{step}"
    low = field.value(start)
    # `5/15` runs from 5 to the field's top; written out, so that a start at the top (`23/2`
    # of hours) is read as the single value it is.
    high = field.value(end) if end is not None else (field.high if step else low)
    if high < low:
        raise field.error(
            f"the range {text!r} runs backwards; write it as two ranges "
            f"({start}-{field.high},{field.low}-{end})."
        )
    if high == low:
        if step is not None and end is not None:
            raise field.error(f"the step in {text!r} runs over one value; write {start}.")
        return str(low)  # croniter reads `a-a` as every value
    return f"{low}-{high}" if step is None else f"{low}-{high}/{step}"


def _day_of_week(parts: list[str]) -> str:
    """Return a day-of-week list as croniter reads it: the days it names, or its 5L and 1#2."""
    if parts[0].startswith("*/") and len(parts) == 1:
        # croniter and cron agree on */n (from Sunday = 0), and cron's either-or rule for the
        # two day fields looks for the star.
        return _item(DAY_OF_WEEK, parts[0])
    special = [part for part in parts if _is_weekday_of_month(part)]
    if not special:
        days: set[int] = set()
        for part in parts:
            days.update(_weekdays(part))
        return ",".join(map(str, sorted(days)))
    if len(special) < len(parts):
        plain = ",".join(part for part in parts if part not in special)
        raise DAY_OF_WEEK.error(
            f"{','.join(special)} cannot share the field with plain days ({plain}): "
            f"croniter cannot read the mix."
        )
    return ",".join(_weekday_of_month(part) for part in parts)


def _is_weekday_of_month(part: str) -> bool:
    # No day name ends in L, so a final L is always Quartz's "last".
    return part.endswith("L") or "#" in part


def _weekdays(text: str) -> set[int]:
    """Return the days (Sunday = 0) a plain day-of-week item names, counting 7 as Sunday."""
    if text.startswith("L"):
        raise DAY_OF_WEEK.error(f"{text!r}: write the last weekday day first, as in 5L.")
    item = _item(DAY_OF_WEEK, text)
    numbers, _, step = item.replace("*", f"{DAY_OF_WEEK.low}-{DAY_OF_WEEK.high}").partition("/")
    low, _, high = numbers.partition("-")
    days = range(int(low), int(high or low) + 1, int(step or 1))
    return {day % 7 for day in days}


def _weekday_of_month(text: str) -> str:
    """Return `5L` as croniter's `L5`, and `1#2` as it is, checked."""
    if text.endswith("L"):
        if text == "L":
            raise DAY_OF_WEEK.error("L needs a day before it, as in 5L for the last Friday.")
        return f"L{_single_day(text[:-1], text)}"
    day, _, week = text.partition("#")
    if not week.isdigit() or int(week) not in WEEKS:
        raise DAY_OF_WEEK.error(f"in {text!r} the week after # must be 1-5.")
    return f"{_single_day(day, text)}#{week}"


def _single_day(day: str, text: str) -> int:
    if not day.isalnum():
        raise DAY_OF_WEEK.error(f"{text!r}: L and # take one day, not a range, list or step.")
    return DAY_OF_WEEK.value(day) % 7
