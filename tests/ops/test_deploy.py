"""`manage.py check --deploy` under production settings: clean, and not clean by accident.

The settings read only the environment, so each check runs in a subprocess with the
environment a production container has (DEBUG=0, a random SECRET_KEY, ALLOWED_HOSTS, a
DATABASE_URL where no server answers: the check needs no database). A missing SECRET_KEY is
tests/test_project.py's.
"""

import os
import secrets
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT

# Settings the environment of the test run may hold; production decides them here.
PRODUCTION_KNOBS = (
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "LOG_FORMAT",
)


def check_deploy(**overrides) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION_KNOBS}
    with socket.socket() as closed:  # bound, never listening: connecting is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env.update(
            DJANGO_SETTINGS_MODULE="scheduler_project.settings",
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="scheduler.example.com,10.0.0.5",
            # Nothing answers there: the check passes only if it needs no database.
            DATABASE_URL=f"postgres://scheduler@127.0.0.1:{port}/scheduler",
        )
        env.update(overrides)
        return subprocess.run(
            [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def test_check_deploy_is_clean_under_production_settings_and_needs_no_database():
    result = check_deploy()
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("overrides", "warning"),
    [
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_SSL_REDIRECT": "0"}, "security.W008"),
        ({"SESSION_COOKIE_SECURE": "0"}, "security.W012"),
        ({"CSRF_COOKIE_SECURE": "0"}, "security.W016"),
        ({"SECRET_KEY": "too-short"}, "security.W009"),
    ],
)
def test_check_deploy_reports_each_weakened_setting(overrides, warning):
    """The clean run above is clean because of the production defaults, not despite a check."""
    result = check_deploy(**overrides)
    assert result.returncode == 1
    assert warning in result.stderr
    assert "Traceback" not in result.stderr
