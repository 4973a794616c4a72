"""The project as a whole: migrations in step with models, checks clean, commands fail clearly."""

import os
import subprocess
import sys
from io import StringIO

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
        "from jobs.models import Execution\n"
        "print(sorted(set(Execution.objects.values_list('state', flat=True))),"
        " Execution.objects.count())"
    )
    result = manage("shell", "-c", count, env=env)
    assert result.stdout.strip().splitlines()[-1] == "['succeeded'] 20"
