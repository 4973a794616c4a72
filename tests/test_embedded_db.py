"""The launcher (scheduler_project.embedded_db): the embedded PostgreSQL that `make run` uses.

Each test gives it a data directory of its own under tmp_path, never the checkout's .pgdata/.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import environ
import pytest

from scheduler_project.embedded_db import database_url
from tests.conftest import ROOT
from tests.pgserver import server_processes

pytestmark = pytest.mark.slow

LAUNCHER = [sys.executable, "-m", "scheduler_project.embedded_db"]
# Run under the launcher: writes a row through Django's connection (the project's settings
# reading the URL the launcher exported), reads back every row, and counts the processes
# of the server it talks to.
TOUCH = """
import os, sys, django
from pathlib import Path
os.environ["DJANGO_SETTINGS_MODULE"] = "scheduler_project.settings"
django.setup()
from django.db import connection
from tests.pgserver import server_processes
with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE IF NOT EXISTS visit (n serial, pid int)")
    cursor.execute("INSERT INTO visit (pid) VALUES (%s)", [os.getpid()])
    cursor.execute("SELECT count(*) FROM visit")
    print("visits", cursor.fetchone()[0])
print("host", connection.settings_dict["HOST"])
print("processes", len(server_processes(Path(sys.argv[1]))))
"""


def launcher_env(**extra) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    return {**env, "DEBUG": "1", "PYTHONUNBUFFERED": "1", **extra}


def launch(data: Path, *command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*LAUNCHER, "--data", str(data), "--", *command],
        cwd=ROOT,
        env=env or launcher_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(result: subprocess.CompletedProcess) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)


def test_the_embedded_server_keeps_its_data_and_is_stopped_after_each_command(tmp_path):
    data = tmp_path / "pgdata"
    first = launch(data, sys.executable, "-c", TOUCH, str(data))
    assert first.returncode == 0, first.stderr
    # A unix socket in the data directory, parsed from the exported URL by the settings.
    assert report(first)["host"] == str((data / "data").resolve())
    assert int(report(first)["processes"]) > 1  # the postmaster and at least this backend
    assert report(first)["visits"] == "1"
    assert server_processes(data) == []

    second = launch(data, sys.executable, "-c", TOUCH, str(data))
    assert second.returncode == 0, second.stderr
    assert report(second)["visits"] == "2"
    assert server_processes(data) == []


def test_the_commands_exit_status_is_the_launchers(tmp_path):
    result = launch(tmp_path / "pgdata", sys.executable, "-c", "raise SystemExit(7)")
    assert result.returncode == 7
    assert "Embedded PostgreSQL: stopped" in result.stderr


def test_with_database_url_set_the_command_runs_as_it_is(tmp_path):
    env = launcher_env(DATABASE_URL="postgres://someone@db.example/app")
    printed = "import os; print(os.environ['DATABASE_URL'])"
    result = launch(tmp_path / "pgdata", sys.executable, "-c", printed, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgres://someone@db.example/app"
    assert not (tmp_path / "pgdata").exists()  # no server started


def test_sigterm_reaches_the_command_and_the_server_stops_after_it(tmp_path):
    data = tmp_path / "pgdata"
    waits = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    launcher = subprocess.Popen(
        [*LAUNCHER, "--data", str(data), "--", sys.executable, "-c", waits],
        cwd=ROOT,
        env=launcher_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout.readline().strip() == "ready"
        assert server_processes(data)

        # Meanwhile the data directory is this launcher's alone.
        second = launch(data, sys.executable, "-c", "print('never')")
        assert second.returncode == 1
        assert "never" not in second.stdout
        assert second.stderr.strip().splitlines() == [
            f"Embedded PostgreSQL: {data} is in use by another launcher "
            "(a `make run` still running?)"
        ]
        refused = subprocess.run(
            [*LAUNCHER, "--data", str(data), "--delete"], capture_output=True, text=True
        )
        assert refused.returncode == 1 and data.exists()

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=60) == 3
    finally:
        if launcher.poll() is None:
            launcher.kill()
        launcher.communicate()
    assert server_processes(data) == []


def test_delete_stops_a_server_left_running_and_removes_the_data(tmp_path):
    data = tmp_path / "pgdata"
    # A launcher killed outright (SIGKILL), with its command, cannot stop its server.
    sleeps = "print('up', flush=True); import time; time.sleep(60)"
    holder = subprocess.Popen(
        [*LAUNCHER, "--data", str(data), "--", sys.executable, "-c", sleeps],
        cwd=ROOT,
        env=launcher_env(),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert holder.stdout.readline().strip() == "up"
    os.killpg(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=10)
    assert server_processes(data)  # left running

    result = subprocess.run(
        [*LAUNCHER, "--data", str(data), "--delete"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert not data.exists()
    assert server_processes(tmp_path) == []


def test_the_exported_url_names_the_socket_directory_for_django_environ():
    url = database_url(Path("/tmp/a dir/with #odd&chars"))
    config = environ.Env.db_url_config(url)
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"]) == ("scheduler", "postgres")
    assert config["OPTIONS"]["host"] == "/tmp/a dir/with #odd&chars"
