"""The project as a whole: migrations in step with models, checks clean, commands fail clearly."""

import os
import pty
import select
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import ROOT


def manage(*args, env=None):
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **(env or {})}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=full_env, capture_output=True, text=True
    )


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


def test_system_checks_are_clean():
    out = StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "0"], "--concurrency must be between 1 and 1000."),
        (["--queues", " , "], "--queues needs at least one queue name"),
        (["--poll-interval", "-1"], "--poll-interval must be a positive number"),
        # The tests' lease is 3 s.
        (["--poll-interval", "3"], "--poll-interval must be below WORKER_LEASE_SECONDS (3 s)"),
    ],
)
def test_runworker_refuses_bad_options_with_one_line(args, message):
    result = manage("runworker", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_runworker_on_an_unmigrated_database_exits_with_one_line(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    }
    result = manage("runworker", "--burst", env=env)
    assert result.returncode == 1
    assert "The database is not migrated: run manage.py migrate first." in result.stderr
    assert "Traceback" not in result.stderr


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off():
    env = {"DJANGO_SETTINGS_MODULE": "scheduler_project.settings", "DEBUG": "0", "SECRET_KEY": ""}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_settings_refuse_a_prepare_threshold_that_is_not_a_number():
    env = {
        "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
        "DEBUG": "1",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        "DATABASE_PREPARE_THRESHOLD": "often",
    }
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "DATABASE_PREPARE_THRESHOLD must be a whole number or none, not 'often'." in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_createadmin_prints_a_password_once(django_user_model):
    first, second = StringIO(), StringIO()
    call_command("createadmin", stdout=first)
    call_command("createadmin", stdout=second)
    password = first.getvalue().split("password: ")[1].split()[0]
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert password not in second.getvalue()
    assert "already exists" in second.getvalue()


def test_the_embedded_sqlite_setup_migrates_and_runs_a_job(tmp_path):
    """What `make run` uses: SQLite with IMMEDIATE transactions, workers polling."""
    env = {
        "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    assert manage("migrate", "--noinput", env=env).returncode == 0
    create = (
        "from django.utils import timezone; from jobs import services\n"
        "for i in range(20):\n"
        "    services.job_create(name=f'j{i}', handler='noop', schedule_type='once',"
        " run_at=timezone.now())\n"
    )
    assert manage("shell", "-c", create, env=env).returncode == 0
    workers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "--burst", "--concurrency", "3"],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, out
    count = (
        "from jobs.models import Execution, Job\n"
        "print(sorted(set(Execution.objects.values_list('state', flat=True))),"
        " Execution.objects.count(), sorted(set(Job.objects.values_list('state', flat=True))))"
    )
    result = manage("shell", "-c", count, env=env)
    # The one-time jobs are completed too (on SQLite the UUIDs come back as text).
    assert result.stdout.strip().splitlines()[-1] == "['succeeded'] 20 ['completed']"


class Terminal:
    """A command run on a pseudo-terminal of its own, as if typed in one."""

    def __init__(self, argv: list[str], *, cwd, env: dict):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: its controlling terminal is the pty
            try:
                os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.output = b""

    def read(self, timeout: float) -> None:
        if select.select([self.fd], [], [], timeout)[0]:
            try:
                self.output += os.read(self.fd, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(timeout)

    def wait_for(self, *texts: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(t in self.output for t in texts):
            assert time.monotonic() < deadline, self.output.decode(errors="replace")
            self.read(0.1)

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")  # the terminal sends SIGINT to its foreground group

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.read(0.1)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        raise AssertionError(self.output.decode(errors="replace"))


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")
def test_make_run_stops_its_worker_gracefully_on_one_ctrl_c(tmp_path):
    """One Ctrl-C: the server stops, the worker gets one signal and finishes its job."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{db}",
        "PYTHONUNBUFFERED": "1",
        "WORKER_SHUTDOWN_GRACE_SECONDS": "10",
    }
    assert manage("migrate", "--noinput", env=env).returncode == 0
    create = (
        "from django.utils import timezone; from jobs import services\n"
        "services.job_create(name='s', handler='sleep', payload={'seconds': 2},"
        " schedule_type='once', run_at=timezone.now())\n"
    )
    assert manage("shell", "-c", create, env=env).returncode == 0
    # STAMP= : the virtualenv this suite runs in is used as it is, never reinstalled.
    bin_dir = Path(sys.executable).parent
    argv = ["make", "-s", "run", "STAMP=", f"BIN={bin_dir}", f"ADDR=127.0.0.1:{port}"]
    terminal = Terminal(argv, cwd=ROOT, env=env)
    terminal.wait_for(b"Execution started", b"Quit the server", timeout=30)
    terminal.ctrl_c()
    terminal.wait(timeout=20)

    output = terminal.output.decode(errors="replace")
    assert "Second signal" not in output, output
    assert "Worker stopped" in output, output
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT state FROM jobs_execution").fetchall() == [("succeeded",)]
        assert conn.execute(
            "SELECT count(*) FROM jobs_worker WHERE stopped_at IS NULL"
        ).fetchone() == (0,)
