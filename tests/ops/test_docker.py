"""The container: entrypoint roles, the Gunicorn config (and a real Gunicorn), Dockerfile, compose.

No Docker engine runs here, so the image is never built: the entrypoint runs under sh and
bash with the virtualenv's python on PATH, against a fresh PostgreSQL database of the test's
own on the suite's server, as the image runs it (DEBUG=0, a random SECRET_KEY,
scheduler_project.settings).
"""

import json
import os
import re
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from pathlib import Path

import gunicorn.config
import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT
from tests.pgserver import free_port

ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
GUNICORN_CONF = ROOT / "docker" / "gunicorn.conf.py"
VENV_BIN = Path(sys.executable).parent  # holds `python`, as /opt/venv/bin does in the image
SHELLS = [shell for shell in ("sh", "bash") if shutil.which(shell)]
# Set by the image, by compose, or by whoever runs the suite; each test sets its own.
LEAKY = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "PYTHON",
    "APP_DIR",
    "PORT",
    "WEB_CONCURRENCY",
    "LOG_FORMAT",
    "LOG_LEVEL",
    "METRICS_TOKEN",
    "REQUIRE_WORKERS",
    "GUNICORN_CMD_ARGS",
)
METRICS_TOKEN = "metrics-token-for-the-docker-test"

pytestmark = pytest.mark.skipif(not SHELLS, reason="no POSIX shell")


@pytest.fixture
def app_env(tmp_path, scratch_database) -> dict:
    """The environment of a production container, on a fresh, empty database."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in LEAKY and not key.startswith("GUNICORN_")
    }
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        DJANGO_SETTINGS_MODULE="scheduler_project.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="localhost,127.0.0.1",
        DATABASE_URL=scratch_database,
        STATIC_ROOT=str(tmp_path / "static"),
        ROLE_FILE=str(tmp_path / "role"),
        DB_WAIT_SECONDS="1",
        LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    return env


def entrypoint(*args, env, shell="sh", timeout=60):
    return subprocess.run(
        [shell, str(ENTRYPOINT), *args],
        cwd="/",  # the script finds the app from its own path, not the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tables(env) -> set[str]:
    with psycopg.connect(env["DATABASE_URL"]) as db:
        rows = db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --- Entrypoint roles ---------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_an_unknown_role_exits_non_zero_with_one_line(app_env, shell):
    result = entrypoint("wroker", "--burst", env=app_env, shell=shell)
    assert result.returncode == 64
    assert one_line(result.stderr) == (
        "entrypoint: unknown role 'wroker': use web, worker, migrate, manage, healthcheck "
        "or a command"
    )
    assert not Path(app_env["ROLE_FILE"]).exists()


def test_a_command_on_path_runs_as_given(app_env):
    result = entrypoint("python", "-c", "import os; print(os.getcwd())", env=app_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ROOT)  # from the app's directory


@pytest.mark.parametrize("shell", SHELLS)
def test_migrate_applies_the_migrations_and_exits(app_env, shell):
    result = entrypoint("migrate", env=app_env, shell=shell)
    assert result.returncode == 0, result.stderr
    assert "Applying jobs.0001_initial... OK" in result.stdout
    assert {"jobs_job", "jobs_execution", "jobs_worker", "django_migrations"} <= tables(app_env)
    again = entrypoint("migrate", env=app_env, shell=shell)
    assert again.returncode == 0 and "No migrations to apply." in again.stdout


def test_migrate_gives_up_on_an_unreachable_database_with_one_line(app_env):
    with socket.socket() as closed:  # bound, never listening: connecting is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        app_env["DATABASE_URL"] = f"postgres://nobody@127.0.0.1:{port}/nothing"
        result = entrypoint("migrate", env=app_env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert set(lines[:-1]) <= {"entrypoint: waiting for the database..."}
    assert lines[-1].startswith("entrypoint: the database did not answer within 1 s: ")
    assert "Connection refused" in lines[-1]
    assert "Traceback" not in result.stderr


def test_migrate_with_bad_settings_fails_at_once_with_one_line(app_env):
    app_env.update(SECRET_KEY="", DB_WAIT_SECONDS="60")
    started = time.monotonic()
    result = entrypoint("migrate", env=app_env)
    assert time.monotonic() - started < 15  # not waiting for a database that is not the problem
    assert result.returncode == 1
    assert one_line(result.stderr).startswith("entrypoint: cannot start: ")
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_and_manage_roles_run_the_commands_they_name(app_env):
    assert entrypoint("migrate", env=app_env).returncode == 0
    create = (
        "from django.utils import timezone\n"
        "from jobs import services\n"
        "services.job_create(name='from the entrypoint', handler='noop', schedule_type='once',"
        " run_at=timezone.now())\n"
    )
    created = entrypoint("manage", "shell", "--no-imports", "-c", create, env=app_env)
    assert created.returncode == 0, created.stderr

    result = entrypoint("worker", "--burst", "--queues", "default", env=app_env)
    assert result.returncode == 0, result.stderr
    assert Path(app_env["ROLE_FILE"]).read_text().strip() == "worker"
    messages = [
        json.loads(line)["message"] for line in result.stderr.splitlines() if line.startswith("{")
    ]
    assert any(m.startswith("Worker started") and "queues=default" in m for m in messages)

    listed = entrypoint("manage", "jobsctl", "executions", "--json", env=app_env)
    assert listed.returncode == 0, listed.stderr
    [execution] = json.loads(listed.stdout)
    assert (execution["job_name"], execution["state"]) == ("from the entrypoint", "succeeded")


def test_a_worker_containers_healthcheck_needs_its_own_live_heartbeat(app_env):
    assert entrypoint("migrate", env=app_env).returncode == 0
    Path(app_env["ROLE_FILE"]).write_text("worker\n")
    host = os.uname().nodename  # what `uname -n` says, and what runworker records

    silent = entrypoint("healthcheck", env=app_env)
    assert silent.returncode == 1
    assert one_line(silent.stderr) == f"CommandError: No live worker on {host}."

    register = (
        "from jobs.models import Worker\n"
        f"Worker.objects.create(name='w', hostname={host!r}, pid=1, queues=['default'])\n"
        "Worker.objects.create(name='elsewhere', hostname='other-host', pid=1)\n"
    )
    assert entrypoint("manage", "shell", "-c", register, env=app_env).returncode == 0
    alive = entrypoint("healthcheck", env=app_env)
    assert alive.returncode == 0, alive.stderr
    assert alive.stdout == ""


# --- gunicorn.conf.py, as Gunicorn reads it ---------------------------------------------------


def load_gunicorn_conf(monkeypatch, **env) -> dict:
    """Exec the config file the way Gunicorn does, under `env` alone; return its settings."""
    for key in [*LEAKY, "DEBUG"]:
        monkeypatch.delenv(key, raising=False)
    for key in [k for k in os.environ if k.startswith("GUNICORN_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    names = runpy.run_path(str(GUNICORN_CONF))
    return {
        name: value
        for name, value in names.items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType | types.FunctionType)
    }


def test_every_name_in_the_gunicorn_config_is_a_valid_gunicorn_setting(monkeypatch):
    conf = load_gunicorn_conf(monkeypatch, GUNICORN_ACCESS_LOG="1")
    cfg = gunicorn.config.Config()
    unknown = sorted(set(conf) - set(cfg.settings))
    assert unknown == []  # Gunicorn would ignore a misspelt setting without a word
    for name, value in conf.items():
        cfg.set(name, value)  # each setting's own validator
    assert cfg.worker_class_str == "gthread"


def test_gunicorn_defaults_suit_a_container(monkeypatch):
    conf = load_gunicorn_conf(monkeypatch)
    assert conf["bind"] == "0.0.0.0:8000"
    assert conf["workers"] == min(2 * os.cpu_count() + 1, 8)
    assert (conf["worker_class"], conf["threads"]) == ("gthread", 4)
    assert (conf["timeout"], conf["graceful_timeout"], conf["keepalive"]) == (30, 30, 5)
    assert conf["max_requests"] > 0 and conf["max_requests_jitter"] > 0
    assert conf["forwarded_allow_ips"] == "127.0.0.1"
    assert conf["errorlog"] == "-" and conf["accesslog"] is None
    assert conf["control_socket_disable"] is True
    # /metrics is built per scrape from the database: no multiprocess directory, no hooks.
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert not {"child_exit", "worker_exit", "when_ready"} & set(conf)
    # Production logs are JSON, Gunicorn's own lines included; access lines are dropped.
    loggers = conf["logconfig_dict"]["loggers"]
    assert conf["logconfig_dict"]["formatters"]["json"]["()"] == "ops.logging.JsonFormatter"
    assert loggers["gunicorn.error"]["handlers"] == ["console"]
    assert loggers["gunicorn.access"]["handlers"] == []


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    conf = load_gunicorn_conf(
        monkeypatch,
        PORT="9000",
        WEB_CONCURRENCY="3",
        GUNICORN_THREADS="8",
        GUNICORN_TIMEOUT="90",
        GUNICORN_GRACEFUL_TIMEOUT="45",
        FORWARDED_ALLOW_IPS="10.0.0.2",
        GUNICORN_ACCESS_LOG="yes",
        LOG_LEVEL="WARNING",
    )
    assert conf["bind"] == "0.0.0.0:9000"
    assert (conf["workers"], conf["threads"]) == (3, 8)
    assert (conf["timeout"], conf["graceful_timeout"]) == (90, 45)
    assert conf["forwarded_allow_ips"] == "10.0.0.2"
    assert conf["accesslog"] == "-" and conf["loglevel"] == "warning"
    assert conf["logconfig_dict"]["loggers"]["gunicorn.access"]["handlers"] == ["console"]
    assert "request_id=%({x-request-id}o)s" in conf["access_log_format"]
    assert "duration=%(M)sms" in conf["access_log_format"]
    bound = load_gunicorn_conf(monkeypatch, PORT="9000", GUNICORN_BIND="unix:/run/web.sock")
    assert bound["bind"] == "unix:/run/web.sock"


@pytest.mark.parametrize(("env", "log_config"), [({"DEBUG": "1"}, False), ({}, True)])
def test_gunicorn_logs_text_in_development_and_json_in_production(monkeypatch, env, log_config):
    conf = load_gunicorn_conf(monkeypatch, **env)
    assert ("logconfig_dict" in conf) is log_config
    text = load_gunicorn_conf(monkeypatch, LOG_FORMAT="text")
    assert "logconfig_dict" not in text


def test_a_malformed_number_stops_gunicorn_with_one_line(monkeypatch):
    with pytest.raises(SystemExit) as excinfo:
        load_gunicorn_conf(monkeypatch, GUNICORN_TIMEOUT="30s")
    assert (
        str(excinfo.value) == "gunicorn.conf.py: GUNICORN_TIMEOUT must be a whole number, not '30s'"
    )


# --- A real Gunicorn through the entrypoint ---------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is the answer under test, not a hop to follow


_http = urllib.request.build_opener(_NoRedirects)


class Web:
    """`entrypoint.sh web` running in the background, its log in a file."""

    def __init__(self, env: dict, logpath: Path):
        self.port = int(env["PORT"])
        self.logpath = logpath
        self.log = open(logpath, "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "web"],
            cwd="/",
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def get(self, path: str, **headers):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        try:
            with _http.open(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def wait_until_up(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"gunicorn exited {self.proc.returncode}:\n{self.output()}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"gunicorn did not answer /health within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.logpath.read_text()

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def web(app_env, tmp_path):
    """Gunicorn serving the app on a free port, as the image's default command starts it."""
    port = free_port()
    app_env.update(
        PORT=str(port),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        GUNICORN_THREADS="2",
        GUNICORN_ACCESS_LOG="1",
        METRICS_TOKEN=METRICS_TOKEN,
    )
    # What the image's build stage does: the settings' production static storage needs it.
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=app_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collect.returncode == 0, collect.stderr
    assert entrypoint("migrate", env=app_env).returncode == 0
    server = Web(app_env, tmp_path / "gunicorn.log")
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_gunicorn_serves_the_probes_static_files_and_metrics(web, app_env):
    status, headers, body = web.get("/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = web.get("/health/ready")
    assert status == 200 and json.loads(body)["checks"]["migrations"] == "ok"

    # WhiteNoise serves the hashed files collectstatic wrote, cacheable for ever.
    manifest = json.loads((Path(app_env["STATIC_ROOT"]) / "staticfiles.json").read_text())
    hashed = manifest["paths"]["admin/css/base.css"]
    status, headers, body = web.get(f"/static/{hashed}", **{"X-Forwarded-Proto": "https"})
    assert status == 200 and b"body" in body
    assert "immutable" in headers["Cache-Control"]

    # Each process answers a scrape alike: the figures come from the database.
    scrapes = []
    for _ in range(4):
        status, _, body = web.get("/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(body.decode())}
        scrapes.append([s.value for s in families["scheduler_jobs"].samples])
    assert all(scrape == scrapes[0] for scrape in scrapes)
    assert web.get("/metrics")[0] == 401

    assert Path(app_env["ROLE_FILE"]).read_text().strip() == "web"
    healthcheck = entrypoint("healthcheck", env=app_env)
    assert healthcheck.returncode == 0, healthcheck.stderr


@pytest.mark.slow
def test_gunicorn_logs_json_with_the_request_id_and_stops_on_sigterm(web, app_env):
    # Behind the trusted proxy (127.0.0.1) X-Forwarded-Proto says HTTPS: no redirect.
    status, headers, _ = web.get(
        "/api/v1/jobs", **{"X-Forwarded-Proto": "https", "X-Request-ID": "req-docker-1"}
    )
    assert status == 401 and headers["X-Request-ID"] == "req-docker-1"
    status, headers, _ = web.get("/api/v1/jobs")
    assert status == 301 and headers["Location"].startswith("https://")

    assert web.stop() == 0
    assert entrypoint("healthcheck", env=app_env).returncode == 1  # nothing answers now
    lines = [line for line in web.output().splitlines() if line.startswith("{")]
    entries = [json.loads(line) for line in lines]
    assert {"gunicorn.error", "gunicorn.access", "ops.requests"} <= {e["logger"] for e in entries}
    [access] = [
        e for e in entries if e["logger"] == "gunicorn.access" and "req-docker-1" in e["message"]
    ]
    assert re.search(r'"GET /api/v1/jobs HTTP/1.1" 401 .* duration=\d+ms', access["message"])
    assert any(e["message"] == "Shutting down: Master" for e in entries)
    # Everything but Python warnings is one JSON object per line.
    others = [line for line in web.output().splitlines() if not line.startswith("{")]
    assert all("Warning" in line or line.startswith(" ") for line in others), others


# --- Dockerfile and docker-compose.yml --------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into stages."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def instructions(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword) :].strip() for line in stage if line.upper().startswith(keyword)]


def test_the_dockerfile_is_multi_stage_and_runs_as_a_numeric_non_root_user():
    stages = dockerfile_stages()
    assert len(stages) >= 2
    runtime = stages[-1]
    [user] = instructions(runtime, "USER ")[-1:]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: Kubernetes' runAsNonRoot can verify it
    assert any("useradd" in run and f"--uid {uid}" in run for run in instructions(runtime, "RUN "))


def test_the_dockerfile_collects_static_files_and_has_a_healthcheck_and_entrypoint():
    runtime = dockerfile_stages()[-1]
    runs = instructions(runtime, "RUN ")
    assert any("manage.py collectstatic --noinput" in run for run in runs)
    [healthcheck] = instructions(runtime, "HEALTHCHECK ")
    assert "CMD" in healthcheck and "entrypoint.sh" in healthcheck and "healthcheck" in healthcheck
    assert instructions(runtime, "ENTRYPOINT ") == ['["/app/docker/entrypoint.sh"]']
    assert instructions(runtime, "CMD ") == ['["web"]']
    # The build context keeps what the image needs.
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not {"docker", "docker/", "manage.py", "ops", "jobs", "templates"} & set(ignored)


def test_the_image_installs_the_django_release_ci_tests_on_its_python():
    """make test-django6 is the image's stack: the same Python, the same Django pin."""
    text = (ROOT / "Dockerfile").read_text()
    python = re.search(r"^ARG PYTHON_VERSION=(\S+)$", text, re.MULTILINE).group(1)
    django = re.search(r'^ARG DJANGO="([^"]+)"$', text, re.MULTILINE).group(1)
    build = dockerfile_stages()[0]
    assert any('pip install -r requirements.txt "$DJANGO"' in run for run in build)
    makefile = (ROOT / "Makefile").read_text()
    assert f"grep -x {python})" in makefile  # test-django6 looks for this Python
    assert f"VENV=.venv-django6 DJANGO='{django}'" in makefile


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def seconds(duration: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(s|m)", duration).groups()
    return int(number) * (60 if unit == "m" else 1)


def test_compose_runs_postgresql_web_and_two_workers_on_a_named_volume():
    spec = compose()
    services = spec["services"]
    assert {"db", "web", "migrate"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert "healthcheck" in services["db"]
    [volume] = services["db"]["volumes"]
    name, _, mount = volume.partition(":")
    assert name in spec["volumes"] and mount == "/var/lib/postgresql/data"

    def replicas(service):
        return service.get("deploy", {}).get("replicas", 1)

    workers = [s for s in services.values() if s.get("command", [""])[0] == "worker"]
    assert sum(replicas(s) for s in workers) == 2
    assert services["web"]["command"] == ["web"]
    assert services["migrate"]["command"] == ["migrate"]


def test_compose_app_services_share_the_image_and_wait_for_the_migration():
    services = compose()["services"]
    for name in ("web", "worker"):
        service = services[name]
        assert service["image"] == services["migrate"]["image"]
        assert service["environment"]["DATABASE_URL"].split("@")[1].startswith("db:5432/")
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
    assert "migrate" not in services["migrate"]["depends_on"]
    # Stopping waits longer than the process's own grace periods.
    assert seconds(services["worker"]["stop_grace_period"]) > 30  # WORKER_SHUTDOWN_GRACE_SECONDS
    assert seconds(services["web"]["stop_grace_period"]) > 30  # GUNICORN_GRACEFUL_TIMEOUT
