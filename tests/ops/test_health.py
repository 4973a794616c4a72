"""/health and /health/ready: JSON, 200 or 503, cheap, honest, and telling strangers nothing.

The readiness answer names each check with "ok" or "fail"; what failed, and why, is logged.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from jobs.models import Worker
from ops import health
from tests.conftest import ROOT, wait_for


@pytest.fixture(autouse=True)
def fresh_migration_check(monkeypatch):
    """Each test sees the migrations checked afresh, not a cached answer of an earlier one."""
    monkeypatch.setattr(health, "_applied_seen_at", None)
    monkeypatch.setattr(health, "_last_ready", None)


def closed_port() -> socket.socket:
    """A bound, non-listening socket on loopback: connecting to its port is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_liveness_answers_without_the_database(client):
    # No django_db mark: any query here would fail the test.
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readiness_is_ok_with_the_database_up_and_migrations_applied(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "workers": "ok"},
    }


@pytest.mark.django_db
def test_readiness_polled_every_second_costs_two_trivial_queries(
    client, django_assert_max_num_queries
):
    client.get("/health/ready")  # the first check reads django_migrations
    with django_assert_max_num_queries(2):
        assert client.get("/health/ready").status_code == 200


@pytest.mark.django_db
def test_readiness_is_503_when_no_worker_is_live_and_workers_are_required(client, settings):
    settings.REQUIRE_WORKERS = True
    Worker.objects.create(
        name="stale", hostname="h", pid=1, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    Worker.objects.create(name="stopped", hostname="h", pid=2, stopped_at=timezone.now())

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": "ok", "workers": "fail"},
    }


@pytest.mark.django_db
def test_readiness_ignores_missing_workers_unless_required(client, settings):
    settings.REQUIRE_WORKERS = False
    assert client.get("/health/ready").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_readiness_follows_a_real_worker_coming_and_going(client, settings, start_worker):
    settings.REQUIRE_WORKERS = True
    assert client.get("/health/ready").status_code == 503

    worker = start_worker("--concurrency", "1")
    wait_for(lambda: client.get("/health/ready").status_code == 200, message="ready")
    assert client.get("/health/ready").json()["checks"]["workers"] == "ok"

    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, worker.output()
    assert client.get("/health/ready").status_code == 503


@pytest.mark.django_db
def test_readiness_is_503_on_unapplied_migrations_and_names_them_in_the_log(client, caplog):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'jobs' AND name = '0001_initial'")
    with caplog.at_level("WARNING", logger="ops.health"):
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "fail"
    assert "0001_initial" not in response.content.decode()
    assert "jobs.0001_initial" in caplog.text


@pytest.mark.django_db
def test_probes_answer_any_host_over_plain_http(client, settings):
    """Orchestrators probe by IP and without TLS: no ALLOWED_HOSTS check, no redirect."""
    settings.ALLOWED_HOSTS = ["scheduler.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/health", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/health/ready", HTTP_HOST="10.1.2.3:8000").status_code == 200
    # Every other path still gets both.
    assert client.get("/admin/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400
    redirect = client.get("/admin/login/", HTTP_HOST="scheduler.example.com")
    assert redirect.status_code == 301
    assert redirect["Location"].startswith("https://")


def test_probes_refuse_writes(client):
    assert client.post("/health").status_code == 405


@pytest.mark.slow
def test_readiness_is_503_when_the_database_is_unreachable_and_hides_the_error():
    """A real process whose DATABASE_URL points at a closed port on 127.0.0.1.

    The driver's error names the host, the port, the user and the database: the probe is
    public, so they go to the log only.
    """
    sock = closed_port()
    port = sock.getsockname()[1]
    script = (
        "import django, json\n"
        "django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "live, ready = c.get('/health'), c.get('/health/ready')\n"
        "print(json.dumps([live.status_code, ready.status_code, ready.json()]))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://nobody@127.0.0.1:{port}/nothing",
        "PGCONNECT_TIMEOUT": "3",
        "LOG_FORMAT": "text",
    }
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        sock.close()
    assert result.returncode == 0, result.stderr
    live, ready, body = json.loads(result.stdout.strip().splitlines()[-1])
    assert live == 200  # liveness does not depend on the database
    assert ready == 503
    assert body == {"status": "unavailable", "checks": {"database": "fail"}}
    # The details are in the log, for operators.
    assert "Not ready" in result.stderr
    assert str(port) in result.stderr
