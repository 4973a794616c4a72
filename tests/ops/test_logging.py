"""Structured logs: a JSON line per execution from a real worker, request ids on web lines."""

import json
import logging
import os
import subprocess
import sys

import pytest
from django.utils import timezone

from jobs import services
from jobs.models import Execution, Worker
from ops.logging import JsonFormatter, RequestIdFilter, TextFormatter
from tests.conftest import ROOT


def json_lines(text: str) -> list[dict]:
    """Every line of `text` parsed as JSON (failing on any line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_logs_one_json_line_per_execution_with_its_fields(start_worker):
    now = timezone.now()
    jobs = [
        services.job_create(
            name=f"ok {i}", handler="probe", payload={"mode": "succeed"}, run_at=now
        )
        for i in range(2)
    ]
    jobs.append(
        services.job_create(
            name="bad", handler="probe", payload={"mode": "fail"}, run_at=now, max_retries=0
        )
    )
    worker = start_worker("--burst", "--name", "json-worker", env={"LOG_FORMAT": "json"})
    assert worker.wait(timeout=60) == 0, worker.output()

    lines = json_lines(worker.output())  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    outcomes = [line for line in lines if line["message"].startswith("Execution ")]
    outcomes = [line for line in outcomes if "duration" in line]
    executions = {e.pk: e for e in Execution.objects.all()}
    assert sorted(line["execution_id"] for line in outcomes) == sorted(executions)
    for line in outcomes:
        execution = executions[line["execution_id"]]
        assert line["job_id"] == str(execution.job_id)
        assert line["attempt"] == execution.attempt == 1
        assert line["worker"] == "json-worker" == Worker.objects.get().name
        assert isinstance(line["duration"], float) and line["duration"] >= 0
        assert line["logger"] == "jobs.worker"
    failed = [line for line in outcomes if line["job_id"] == str(jobs[2].pk)]
    assert failed[0]["level"] == "WARNING"
    assert "probe failed on attempt 1" in failed[0]["message"]
    # The line a worker writes when it claims an execution carries the same fields.
    started = [line for line in lines if line["message"].startswith("Execution started")]
    assert {line["execution_id"] for line in started} == set(executions)


class Collect(logging.Handler):
    """Format records as the console handler would, and keep the lines."""

    def __init__(self, formatter):
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(formatter)
        self.addFilter(RequestIdFilter())

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def json_log():
    handler = Collect(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_request_id_from_the_caller_is_echoed_and_on_every_line_of_the_request(client, json_log):
    response = client.get("/no-such-page", HTTP_X_REQUEST_ID="req-42.a")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "req-42.a"

    lines = [json.loads(line) for line in json_log.lines]
    by_logger = {line["logger"]: line for line in lines}
    assert by_logger["django.request"]["request_id"] == "req-42.a"  # "Not Found: ..."
    access = by_logger["ops.requests"]
    assert access["request_id"] == "req-42.a"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/no-such-page", 404)
    assert access["duration"] >= 0


@pytest.mark.django_db
@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 200, "semi;colon"])
def test_a_missing_or_odd_request_id_is_replaced_by_a_fresh_one(client, json_log, sent):
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}
    response = client.get("/admin/login/", **headers)
    request_id = response["X-Request-ID"]
    assert request_id != sent
    assert len(request_id) == 32 and int(request_id, 16) >= 0
    assert json.loads(json_log.lines[-1])["request_id"] == request_id


def test_lines_outside_a_request_have_no_request_id(json_log):
    logging.getLogger("jobs.worker").warning("Outside any request")
    assert "request_id" not in json.loads(json_log.lines[-1])


def test_the_json_formatter_writes_fields_and_tracebacks_on_one_line():
    logger = logging.getLogger("tests.ops.json")
    handler = Collect(JsonFormatter())
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            logger.exception(
                "Failed job_id=%s", "abc", extra={"job_id": "abc", "attempt": 2, "obj": object()}
            )
    finally:
        logger.removeHandler(handler)
    [line] = handler.lines
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "Failed job_id=abc"
    assert entry["level"] == "ERROR"
    assert entry["job_id"] == "abc" and entry["attempt"] == 2
    assert entry["obj"].startswith("<object object")
    assert "ValueError: bad" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_the_text_format_ends_request_lines_with_the_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Hello %s", ("you",), None)
    record.request_id = "r1"
    assert TextFormatter().format(record).endswith("INFO x Hello you request_id=r1")


def test_an_unknown_log_format_is_refused_with_a_clear_error():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_FORMAT": "xml"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "LOG_FORMAT must be json or text, not 'xml'." in result.stderr


def run_logging_lines(count: int, **env: str) -> subprocess.CompletedProcess:
    """Log `count` numbered lines from a fresh process configured by `env`."""
    code = (
        "import logging\n"
        "log = logging.getLogger('tests.ops.file')\n"
        f"for i in range({count}):\n"
        "    log.warning('Line number=%s', i, extra={'number': i})\n"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_file_gets_the_console_lines_too_and_is_rotated_by_size(tmp_path):
    path = tmp_path / "scheduler.log"
    result = run_logging_lines(
        200,
        LOG_FORMAT="json",
        LOG_FILE=str(path),
        LOG_FILE_MAX_BYTES="2000",
        LOG_FILE_BACKUPS="2",
    )
    assert result.returncode == 0, result.stderr

    # The current file and two rotated ones; older lines were dropped with the third.
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["scheduler.log", "scheduler.log.1", "scheduler.log.2"]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())
    oldest_first = [tmp_path / "scheduler.log.2", tmp_path / "scheduler.log.1", path]
    lines = [line for p in oldest_first for line in json_lines(p.read_text())]
    numbers = [line["number"] for line in lines]
    assert numbers == list(range(numbers[0], 200))  # the newest lines, none lost or repeated
    assert numbers[0] > 0  # the first lines went with the file rotated away
    assert lines[-1]["message"] == "Line number=199"
    assert lines[-1]["logger"] == "tests.ops.file" and lines[-1]["level"] == "WARNING"
    # Beside the console, not instead of it: every line went there too, in the same format.
    console = [line for line in json_lines(result.stderr) if line["logger"] == "tests.ops.file"]
    assert [line["number"] for line in console] == list(range(200))


def test_without_log_file_lines_go_to_the_console_only(tmp_path):
    result = run_logging_lines(3, LOG_FORMAT="text", LOG_FILE="", TMPDIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "WARNING tests.ops.file Line number=2" in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_log_file_in_a_missing_directory_is_refused_with_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-dir" / "scheduler.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_FILE": str(missing)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"LOG_FILE {str(missing)!r}: its directory does not exist." in result.stderr
