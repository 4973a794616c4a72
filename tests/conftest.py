"""Fixtures shared by the whole suite."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="pw-root-123")


def database_url() -> str:
    """The URL of the database the current test runs on (the test database)."""
    s = connection.settings_dict
    user = s["USER"] or ""
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    host = s["HOST"] or "127.0.0.1"
    port = s["PORT"] or 5432
    if host.startswith("/"):  # a unix socket directory (the embedded server)
        socket = f"host={quote(host, safe='/')}" + (f"&port={s['PORT']}" if s["PORT"] else "")
        return f"postgres://{user}{password}@/{s['NAME']}?{socket}"
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


@pytest.fixture
def scratch_database():
    """A database of the test's own on the suite's server, made empty and dropped after.

    Yields its URL: for commands run in subprocesses under the project's own settings.
    """
    import psycopg

    server = os.environ["DATABASE_URL"]
    name = f"scratch_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class WorkerProcess:
    """A real `manage.py runworker` process, started against the test database."""

    def __init__(
        self, *args: str, env: dict | None = None, url: str | None = None, prefix: tuple = ()
    ):
        """`prefix`: a command the worker runs under (e.g. `ip netns exec NAME`), one that
        execs it, so that the process started is the worker."""
        self.args = args
        full_env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": url or database_url(),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.logpath = (
            Path(os.environ.get("TMPDIR", "/tmp"))
            / f"worker-{os.getpid()}-{time.monotonic_ns()}.log"
        )
        self.log = open(self.logpath, "w+")  # noqa: SIM115 - closed in wait()/kill()
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, str(ROOT / "manage.py"), "runworker", *args],
            cwd=ROOT,
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.flush()

    def output(self) -> str:
        self.log.flush()
        return self.logpath.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()
        self.logpath.unlink(missing_ok=True)


@pytest.fixture
def start_worker():
    """Start real worker processes; each is killed at the end of the test if still running."""
    started: list[WorkerProcess] = []

    def start(*args: str, **kwargs) -> WorkerProcess:
        worker = WorkerProcess(*args, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value, or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {message}")
