"""What jobsctl prints cannot steer the operator's terminal: control characters come out
escaped, in tables, in a job's page, in --json (still parsing to the data) and in refusals."""

import json

import pytest

from jobs import services
from tests.ops.test_jobsctl import cron_job, jobsctl, refusal

pytestmark = pytest.mark.django_db

# A job name that would clear the screen, set the window title, and reverse what follows.
HOSTILE = "report\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil\x7f"
ESCAPED = "report\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202eevil\\x7f"
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\u202e", "\x7f")


def assert_inert(out: str) -> None:
    assert not any(char in out for char in FORBIDDEN), repr(out)


def test_tables_and_pages_show_control_characters_escaped():
    job = cron_job(name=HOSTILE)
    listing = jobsctl("list")
    assert_inert(listing)
    assert "report\\x1b[2J" in listing
    page = jobsctl("show", str(job.pk))
    assert_inert(page)
    assert ESCAPED in page
    assert_inert(jobsctl("pause", str(job.pk)))
    services.job_trigger(job=job)
    assert_inert(jobsctl("executions"))


def test_json_escapes_them_and_still_parses_to_the_name():
    job = cron_job(name=HOSTILE)
    out = jobsctl("show", str(job.pk), "--json")
    assert_inert(out)
    assert json.loads(out)["name"] == HOSTILE


def test_a_refusal_quoting_input_escapes_it():
    message = refusal("show", "\x1b[2Jabcd")
    assert_inert(message)
    assert "\\x1b" in message
