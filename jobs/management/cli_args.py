"""What `manage.py jobsctl` reads from its command line: job and execution references,
whole numbers and times, one-line usage errors, and who the changes are made by."""

import argparse
import getpass
import os
import re
from datetime import UTC, datetime

from django.core.management.base import CommandError

from jobs import audit
from jobs.models import Execution, Job

_HEX = re.compile(r"^[0-9a-f]{1,32}$")
_EXECUTION_ID = re.compile(r"^[0-9]{1,18}$")
_UUID_GROUPS = (8, 4, 4, 4, 12)  # hex digits between the hyphens of a UUID
MIN_PREFIX = 4  # hex digits of a job id prefix
OPERATOR_VIA = "jobsctl"


def operator() -> audit.Actor:
    """Return the audit actor for changes made from this shell: the OS user, via jobsctl."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # a container's uid without a passwd entry, no $USER
        name = f"uid {os.getuid()}"
    return audit.Actor(None, name[:150], OPERATOR_VIA)


def _hyphenated(digits: str) -> str:
    """Return a prefix of UUID hex digits with hyphens where the UUID's text form has them."""
    groups, start = [], 0
    for size in _UUID_GROUPS:
        if start >= len(digits):
            break
        groups.append(digits[start : start + size])
        start += size
    return "-".join(groups)


def one_line_errors(parser) -> None:
    """Make `parser` report a usage error on one line (from a shell) instead of a usage dump."""
    raise_instead = parser.error  # Django's: raises CommandError under call_command()

    def error(message):
        if not getattr(parser, "called_from_command_line", False):
            raise_instead(message)
        parser.exit(2, f"{parser.prog}: {message} (see --help)\n")

    parser.error = error


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def timestamp(value: str) -> datetime:
    """An ISO 8601 time (`2026-11-01T06:00Z`, `2026-11-01 08:00+02:00`); UTC without offset."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 time like 2026-11-01T06:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def job_by_ref(ref: str) -> Job:
    """The one job whose id starts with `ref` (with or without hyphens)."""
    digits = ref.strip().lower().replace("-", "")
    if not _HEX.match(digits):
        raise CommandError(f"{ref!r} is not a job id (hexadecimal digits and hyphens).")
    if len(digits) < MIN_PREFIX:
        raise CommandError(f"Give at least {MIN_PREFIX} characters of the job id.")
    # The id's text form, which the prefix is matched against, has the hyphens.
    ref = _hyphenated(digits)
    matches = list(Job.objects.select_related("owner").filter(id__startswith=ref)[:2])
    if not matches:
        raise CommandError(f"No job with an id starting {ref!r}.")
    if len(matches) > 1:
        raise CommandError(f"More than one job id starts with {ref!r}; give more of it.")
    return matches[0]


def execution_by_ref(ref: str) -> Execution:
    """The execution with the id `ref`."""
    # ASCII digits only: str.isdigit() accepts "²", which int() refuses. 18 digits fit a
    # bigint, so the lookup cannot overflow the column.
    if not _EXECUTION_ID.match(ref.strip()):
        raise CommandError(f"{ref!r} is not an execution id (a whole number).")
    pk = int(ref)
    execution = Execution.objects.select_related("job", "worker").filter(pk=pk).first()
    if execution is None:
        raise CommandError(f"No execution with id {pk}.")
    return execution
