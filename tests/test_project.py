"""The project as a whole: migrations in step with models, checks clean, commands fail clearly,
PostgreSQL only, and `make run` on the embedded server."""

import os
import pty
import select
import shutil
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import psutil
import pytest
from django.core.management import call_command

from tests.conftest import ROOT
from tests.pgserver import server_processes


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
        (["--prefetch", "-1"], "--prefetch (default WORKER_PREFETCH) must be 0 or more."),
        # The tests' lease is 3 s.
        (["--poll-interval", "3"], "--poll-interval must be below WORKER_LEASE_SECONDS (3 s)"),
    ],
)
def test_runworker_refuses_bad_options_with_one_line(args, message):
    result = manage("runworker", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_runworker_refuses_a_heartbeat_too_slow_for_the_fence_with_one_line():
    result = manage("runworker", env={"WORKER_HEARTBEAT_SECONDS": "2.5"})  # lease 3 s
    assert result.returncode != 0
    assert (
        "WORKER_HEARTBEAT_SECONDS (2.5) must be below 70% of WORKER_LEASE_SECONDS (3 s)"
        in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_runworker_refuses_a_negative_prefetch_setting_with_one_line():
    result = manage("runworker", env={"WORKER_PREFETCH": "-1"})
    assert result.returncode != 0
    assert "--prefetch (default WORKER_PREFETCH) must be 0 or more." in result.stderr
    assert "Traceback" not in result.stderr


def test_runworker_on_an_unmigrated_database_exits_with_one_line(scratch_database):
    env = {
        "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
        "DEBUG": "1",
        "DATABASE_URL": scratch_database,
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


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "sqlite:///db.sqlite3",
            "DATABASE_URL is a sqlite:// URL: this scheduler runs on PostgreSQL",
        ),
        ("mysql://app@127.0.0.1/app", "DATABASE_URL is a mysql:// URL: this scheduler runs on"),
        ("", "DATABASE_URL is not set: run `make run` (it starts the embedded PostgreSQL)"),
    ],
)
def test_settings_refuse_any_database_but_postgresql_with_one_line(url, message):
    env = {"DJANGO_SETTINGS_MODULE": "scheduler_project.settings", "DEBUG": "1"}
    result = manage("check", env={**env, "DATABASE_URL": url})
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "DATABASE_PREPARE_THRESHOLD",
            "often",
            "DATABASE_PREPARE_THRESHOLD must be a whole number or none, not 'often'.",
        ),
        (
            "DATABASE_POOL_MODE",
            "statement",
            "DATABASE_POOL_MODE must be auto, session or transaction, not 'statement'.",
        ),
        (
            "DATABASE_LISTEN_URL",
            "db.internal:5432",
            "DATABASE_LISTEN_URL is not a PostgreSQL connection URL: missing",
        ),
        ("CLEANUP_RETENTION_DAYS", "-5", "CLEANUP_RETENTION_DAYS must be 1 or more, not -5."),
        ("AUDIT_RETENTION_DAYS", "-1", "AUDIT_RETENTION_DAYS must be 0 or more, not -1."),
        ("AUDIT_RETENTION_DAYS", "a year", "AUDIT_RETENTION_DAYS must be a whole number, not"),
    ],
)
def test_settings_refuse_a_bad_option_with_one_line(name, value, message):
    env = {
        "DJANGO_SETTINGS_MODULE": "scheduler_project.settings",
        "DEBUG": "1",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        name: value,
    }
    result = manage("check", env=env)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


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


def without_database_url() -> dict:
    """The test run's environment, less DATABASE_URL: what `make run` starts from."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return {**env, "DJANGO_SETTINGS_MODULE": "scheduler_project.settings", "DEBUG": "1"}


def embedded(data: Path, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `command` under the launcher on the embedded server with its data in `data`."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scheduler_project.embedded_db",
            "--data",
            str(data),
            "--",
            *command,
        ],
        cwd=ROOT,
        env=without_database_url(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_the_embedded_postgresql_setup_migrates_and_runs_a_job(tmp_path):
    """What `make run` uses without DATABASE_URL: the embedded server, two workers."""
    create = (
        "from django.utils import timezone; from jobs import services\n"
        "for i in range(20):\n"
        "    services.job_create(name=f'j{i}', handler='noop', schedule_type='once',"
        " run_at=timezone.now())\n"
    )
    count = (
        "from jobs.models import Execution, Job\n"
        "print(sorted(set(Execution.objects.values_list('state', flat=True))),"
        " Execution.objects.count(), sorted(set(Job.objects.values_list('state', flat=True))))"
    )
    script = (
        'set -e; py="$1"; "$py" manage.py migrate --noinput -v 0; "$py" manage.py shell -c "$2"\n'
        '"$py" manage.py runworker --burst --concurrency 3 & one=$!\n'
        '"$py" manage.py runworker --burst --concurrency 3 & two=$!\n'
        'wait $one; wait $two; "$py" manage.py shell -c "$3"'
    )
    result = embedded(tmp_path / "pgdata", "sh", "-c", script, "sh", sys.executable, create, count)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['succeeded'] 20 ['completed']"
    assert "Embedded PostgreSQL: stopped" in result.stderr


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
def test_make_run_stops_its_worker_gracefully_and_the_embedded_server_on_one_ctrl_c(tmp_path):
    """One Ctrl-C: the server stops, the worker gets one signal and finishes its job, and
    then the embedded PostgreSQL stops, its data kept."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path / "pgdata"
    create = (
        "from django.utils import timezone; from jobs import services\n"
        "services.job_create(name='s', handler='sleep', payload={'seconds': 2},"
        " schedule_type='once', run_at=timezone.now())\n"
    )
    script = 'set -e; "$1" manage.py migrate --noinput -v 0; "$1" manage.py shell -c "$2"'
    prepared = embedded(data, "sh", "-c", script, "sh", sys.executable, create)
    assert prepared.returncode == 0, prepared.stderr

    env = {**without_database_url(), "PYTHONUNBUFFERED": "1", "WORKER_SHUTDOWN_GRACE_SECONDS": "10"}
    # STAMP= : the virtualenv this suite runs in is used as it is, never reinstalled.
    bin_dir = Path(sys.executable).parent
    argv = ["make", "-s", "run", "STAMP=", f"BIN={bin_dir}", f"ADDR=127.0.0.1:{port}"]
    terminal = Terminal([*argv, f"PGDATA_DIR={data}"], cwd=ROOT, env=env)
    terminal.wait_for(b"Execution started", b"Quit the server", timeout=60)
    terminal.ctrl_c()
    terminal.wait(timeout=30)

    output = terminal.output.decode(errors="replace")
    assert "Second signal" not in output, output
    assert "Worker stopped" in output, output
    assert "Embedded PostgreSQL: stopped" in output, output
    assert server_processes(data) == []
    assert workers_on(data) == []
    # The data is kept: the job ran to its end, and the worker marked itself stopped.
    states = (
        "from jobs.models import Execution, Worker\n"
        "print(list(Execution.objects.values_list('state', flat=True)),"
        " Worker.objects.filter(stopped_at__isnull=True).count())"
    )
    after = embedded(data, sys.executable, "manage.py", "shell", "-c", states)
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip().splitlines()[-1] == "['succeeded'] 0"


def workers_on(data: Path) -> list[int]:
    """The pids of runworker processes whose DATABASE_URL leads to the server in `data`."""
    pids = []
    for process in psutil.process_iter():
        try:
            if "runworker" in process.cmdline() and str(data) in process.environ().get(
                "DATABASE_URL", ""
            ):
                pids.append(process.pid)
        except psutil.Error:
            continue
    return pids
