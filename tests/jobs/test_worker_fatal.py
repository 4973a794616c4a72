"""A database error that stops the worker is named with its likely cause, on one line: a
pooler that lost the prepared statements is named as such, not as a missing migration. The
errors here are PostgreSQL's own, raised on a real connection."""

import psycopg
import pytest

from jobs import engine
from jobs.management.commands.runworker import fatal_reason

pytestmark = pytest.mark.django_db


def error_of(*statements: str) -> psycopg.Error:
    with engine.connect() as db:
        with pytest.raises(psycopg.Error) as raised:
            for statement in statements:
                db.execute(statement)
        return raised.value


def test_a_prepared_statement_that_already_exists_is_named_a_pooler_problem():
    reason = fatal_reason(error_of("PREPARE _pg3_0 AS SELECT 1", "PREPARE _pg3_0 AS SELECT 2"))
    assert reason.startswith('prepared statement "_pg3_0" already exists (a transaction pooler')
    assert "DATABASE_POOL_MODE=transaction" in reason and "migrate" not in reason
    assert "\n" not in reason


def test_a_prepared_statement_that_is_gone_is_named_a_pooler_problem():
    reason = fatal_reason(error_of("EXECUTE _pg3_7"))
    assert 'prepared statement "_pg3_7" does not exist (a transaction pooler' in reason


def test_a_missing_column_asks_for_migrate_first_then_names_the_pooler():
    reason = fatal_reason(error_of("SELECT no_such_column FROM jobs_job"))
    assert "(is the database migrated? run: manage.py migrate; if it is, a transaction" in reason


def test_any_other_error_is_its_first_line():
    assert fatal_reason(error_of("SELECT 1/0")) == "division by zero"
