"""`manage.py check --deploy` under production settings: clean, and not clean by accident.

The settings read only the environment, so each check runs in a subprocess with the
environment a production container has (DEBUG=0, a random SECRET_KEY, ALLOWED_HOSTS, a
DATABASE_URL where no server answers: the check needs no database). A missing SECRET_KEY is
tests/test_project.py's.
"""

import json
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
    "API_NUM_PROXIES",
)


def run_in_production(args: list[str], **overrides) -> subprocess.CompletedProcess:
    """Run `python *args` in ROOT under the production environment, plus `overrides`."""
    env = {key: value for key, value in os.environ.items() if key not in PRODUCTION_KNOBS}
    with socket.socket() as closed:  # bound, never listening: connecting is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        env.update(
            DJANGO_SETTINGS_MODULE="scheduler_project.settings",
            DEBUG="0",
            SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="scheduler.example.com,10.0.0.5",
            # Nothing answers there: what runs passes only if it needs no database.
            DATABASE_URL=f"postgres://scheduler@127.0.0.1:{port}/scheduler",
        )
        env.update(overrides)
        return subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def check_deploy(**overrides) -> subprocess.CompletedProcess:
    return run_in_production(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **overrides
    )


@pytest.mark.parametrize("num_proxies", ["0", "1"])
def test_check_deploy_is_clean_under_production_settings_and_needs_no_database(num_proxies):
    result = check_deploy(API_NUM_PROXIES=num_proxies)
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


# A request over plain HTTP that claims HTTPS in X-Forwarded-Proto, through Django's test
# client under the production settings: SecurityMiddleware redirects it to HTTPS unless
# Django takes it for secure, and sends HSTS only if it does.
SCHEME_PROBE = """
import django, json
django.setup()
from django.test import Client
response = Client().get(
    "/api/v1/auth/me", HTTP_HOST="scheduler.example.com", HTTP_X_FORWARDED_PROTO="https"
)
print(json.dumps([
    response.status_code,
    response.get("Location", ""),
    "Strict-Transport-Security" in response,
]))
"""


def scheme_probe(**overrides) -> list:
    result = run_in_production(["-c", SCHEME_PROBE], LOG_LEVEL="ERROR", **overrides)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_x_forwarded_proto_from_a_client_does_not_make_the_request_secure():
    status, location, hsts = scheme_probe()

    assert (status, location) == (301, "https://scheduler.example.com/api/v1/auth/me")
    assert hsts is False


def test_x_forwarded_proto_is_honoured_once_proxies_are_configured():
    status, location, hsts = scheme_probe(API_NUM_PROXIES="1")

    assert (status, location) == (401, "")  # served: no token, no redirect
    assert hsts is True


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_proxy_count_that_is_not_a_whole_number_stops_start_up_in_one_line(value):
    result = check_deploy(API_NUM_PROXIES=value)

    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"manage.py: API_NUM_PROXIES must be a whole number, 0 or more, not {value!r}."
    )
