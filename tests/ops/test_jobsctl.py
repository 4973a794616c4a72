"""`manage.py jobsctl`: tables and --json per subcommand, one-line refusals, the audit trail."""

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from jobs import services
from jobs.models import AuditEvent, Execution, Job, Worker
from jobs.states import ExecutionState, JobState
from tests.conftest import ROOT, database_url

OS_USER = "ops-operator"  # what getpass.getuser() answers in these tests (from $LOGNAME)


@pytest.fixture(autouse=True)
def os_user(monkeypatch):
    monkeypatch.setenv("LOGNAME", OS_USER)


def jobsctl(*args) -> str:
    out = StringIO()
    call_command("jobsctl", *args, stdout=out)
    return out.getvalue()


def jobsctl_json(*args):
    return json.loads(jobsctl(*args, "--json"))


def refusal(*args) -> str:
    """Run jobsctl expecting a refusal; return its message, checked to be one line."""
    with pytest.raises(CommandError) as excinfo:
        jobsctl(*args)
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


def cron_job(name="nightly report", **fields):
    defaults = {"handler": "noop", "schedule_type": "cron", "cron": "30 2 * * *"}
    return services.job_create(name=name, **{**defaults, **fields})


def finished_execution(job, state, *, took=0.25, error="", attempt=1):
    finished_at = timezone.now()
    started_at = finished_at - timedelta(seconds=took)
    return Execution.objects.create(
        job=job,
        scheduled_for=started_at,
        attempt=attempt,
        state=state,
        queue=job.queue,
        run_after=started_at,
        started_at=started_at,
        finished_at=finished_at,
        created_at=started_at,
        error=error,
    )


def live_worker(**fields):
    values = {"name": "w1@host-a", "hostname": "host-a", "pid": 4242, "queues": ["default"]}
    return Worker.objects.create(**{**values, "concurrency": 4, **fields})


def state_of_everything():
    """What a refused command must leave as it was."""
    return (
        sorted(Job.objects.values_list("id", "state", "next_run_at", "last_run_at")),
        sorted(Execution.objects.values_list("id", "state")),
        AuditEvent.objects.count(),
    )


def cells(line: str) -> list[str]:
    """The cells of a table line: columns are two or more spaces apart."""
    return re.split(r"\s{2,}", line.strip())


def table_lines(text: str) -> tuple[list[str], list[str]]:
    """The header cells and the body lines of a jobsctl table."""
    header, *body = text.strip().splitlines()
    return cells(header), body


# --- Reading --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_prints_a_table_of_jobs_newest_first():
    old = cron_job("old one")
    new = cron_job("new one", queue="mail")
    header, body = table_lines(jobsctl("list"))
    assert header == ["ID", "NAME", "HANDLER", "SCHEDULE", "STATE", "QUEUE", "NEXT RUN", "LAST RUN"]
    assert [cells(line)[0] for line in body] == [str(new.pk)[:8], str(old.pk)[:8]]
    assert cells(body[0])[:6] == [
        str(new.pk)[:8],
        "new one",
        "noop",
        "cron 30 2 * * *",
        "active",
        "mail",
    ]
    assert cells(body[0])[6] == new.next_run_at.strftime("%Y-%m-%d %H:%M:%SZ")
    assert cells(body[0])[7] == "-"


@pytest.mark.django_db
def test_list_filters_and_prints_json():
    mail = cron_job("mailer", queue="mail")
    paused = services.job_pause(job=cron_job("sleeper"))
    data = jobsctl_json("list", "--queue", "mail")
    assert [job["id"] for job in data] == [str(mail.pk)]
    assert data[0]["name"] == "mailer" and data[0]["cron"] == "30 2 * * *"
    assert data[0]["next_run_at"] == mail.next_run_at.isoformat()
    assert [job["id"] for job in jobsctl_json("list", "--state", "paused")] == [str(paused.pk)]
    assert [job["name"] for job in jobsctl_json("list", "--search", "SLEEP")] == ["sleeper"]
    assert len(jobsctl_json("list", "--limit", "1")) == 1


@pytest.mark.django_db
def test_list_of_nothing_says_so():
    assert jobsctl("list").strip() == "No jobs."
    assert jobsctl_json("list") == []


@pytest.mark.django_db
def test_show_prints_the_job_and_its_latest_executions(user):
    job = cron_job(owner=user, payload={})
    dead = finished_execution(job, ExecutionState.DEAD, error="boom")
    text = jobsctl("show", str(job.pk)[:8])
    assert f"id:        {job.pk}" in text
    assert "schedule:  cron 30 2 * * *" in text
    assert "owner:     alice" in text
    assert "Latest executions:" in text
    row = text.splitlines()[-1].split()
    assert row[:2] == [str(dead.pk), str(job.pk)[:8]]
    assert "dead" in row and "boom" in row and "0.250s" in row

    data = jobsctl_json("show", str(job.pk))
    assert data["id"] == str(job.pk) and data["owner"] == "alice"
    [execution] = data["executions"]
    assert execution["id"] == dead.pk
    assert execution["state"] == "dead"
    assert execution["duration_seconds"] == pytest.approx(0.25)


@pytest.mark.django_db
def test_a_job_id_prefix_works_with_or_without_hyphens_in_any_case():
    job = cron_job()
    digits = job.pk.hex
    for ref in (str(job.pk), digits, digits[:12].upper(), str(job.pk)[:10], digits[:4]):
        assert jobsctl_json("show", ref)["id"] == str(job.pk), ref


@pytest.mark.django_db
def test_executions_lists_filters_and_prints_json():
    job, other = cron_job("first"), cron_job("second")
    dead = finished_execution(job, ExecutionState.DEAD, error="gave up")
    done = finished_execution(other, ExecutionState.SUCCEEDED)
    header, body = table_lines(jobsctl("executions"))
    assert header == [
        "ID",
        "JOB",
        "NAME",
        "ATTEMPT",
        "STATE",
        "SCHEDULED FOR",
        "FINISHED",
        "TOOK",
        "ERROR",
    ]
    assert [int(cells(line)[0]) for line in body] == [done.pk, dead.pk]
    assert cells(body[1])[1:5] == [str(job.pk)[:8], "first", "1", "dead"]
    assert cells(body[1])[-2:] == ["0.250s", "gave up"]

    data = jobsctl_json("executions", "--state", "dead")
    assert [e["id"] for e in data] == [dead.pk]
    assert data[0]["job_id"] == str(job.pk) and data[0]["error"] == "gave up"
    assert [e["id"] for e in jobsctl_json("executions", "--job", str(other.pk)[:8])] == [done.pk]
    assert jobsctl("executions", "--queue", "nowhere").strip() == "No executions."


@pytest.mark.django_db
def test_stats_prints_jobs_queues_workers_and_activity():
    job = cron_job()
    services.job_pause(job=cron_job("paused"))
    services.job_trigger(job=job)  # one due execution in "default"
    finished_execution(job, ExecutionState.SUCCEEDED, took=0.5)
    finished_execution(job, ExecutionState.DEAD, took=1.5, attempt=2)
    live_worker()

    text = jobsctl("stats")
    assert "Jobs:         active 1  paused 1" in text
    assert "Workers:      1 live, 4 slots" in text
    assert "Dead letters: 1" in text
    queue_row = next(line for line in text.splitlines() if line.startswith("default"))
    assert queue_row.split()[:4] == ["default", "1", "0", "0"]
    noop_row = next(line for line in text.splitlines() if line.startswith("noop"))
    assert noop_row.split()[1:4] == ["1", "0", "1"]  # succeeded, failed, dead

    data = jobsctl_json("stats", "--window", "600")
    assert data["window_seconds"] == 600
    assert data["jobs"]["active"] == 1 and data["jobs"]["paused"] == 1
    assert data["workers"] == {"alive": 1, "slots": 4}
    assert data["dead_letters"] == 1
    assert data["queues"]["default"]["due"] == 1
    assert data["queues"]["default"]["lag_seconds"] >= 0
    noop = data["handlers"]["noop"]
    assert noop["finished"]["succeeded"] == 1 and noop["finished"]["dead"] == 1
    assert noop["retries"] == 1
    assert noop["mean_duration_seconds"] == pytest.approx(1.0)


@pytest.mark.django_db
def test_stats_of_an_empty_scheduler_says_so():
    text = jobsctl("stats")
    assert "No queued or running executions." in text and "No activity." in text
    assert jobsctl_json("stats")["dead_letters"] == 0


@pytest.mark.django_db
def test_workers_lists_live_ones_unless_asked_for_all():
    alive = live_worker()
    live_worker(name="old@host-b", hostname="host-b", stopped_at=timezone.now())
    header, body = table_lines(jobsctl("workers"))
    assert header == ["NAME", "HOST", "PID", "QUEUES", "RUNNING", "STATUS", "HEARTBEAT"]
    assert len(body) == 1
    assert cells(body[0])[:6] == ["w1@host-a", "host-a", "4242", "default", "0/4", "alive"]

    data = jobsctl_json("workers", "--all")
    assert {w["name"]: w["status"] for w in data} == {"w1@host-a": "alive", "old@host-b": "stopped"}
    assert jobsctl_json("workers", "--host", "host-a")[0]["id"] == alive.pk
    jobsctl("workers", "--check", "--host", "host-a")  # a live worker: no refusal


@pytest.mark.django_db
def test_workers_check_refuses_when_no_worker_is_live():
    live_worker(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert refusal("workers", "--check") == "No live worker."
    assert refusal("workers", "--check", "--host", "host-z") == "No live worker on host-z."


# --- Changing, and who did it -----------------------------------------------------------------


def audit_events(action):
    return list(AuditEvent.objects.filter(action=action).values("actor", "via", "object_id"))


@pytest.mark.django_db
def test_pause_and_resume_change_the_job_and_record_the_os_user():
    job = cron_job()
    assert jobsctl("pause", str(job.pk)[:8]).strip() == (
        f"Paused job {str(job.pk)[:8]} (nightly report)."
    )
    job.refresh_from_db()
    assert job.state == JobState.PAUSED
    assert audit_events("pause") == [{"actor": OS_USER, "via": "jobsctl", "object_id": str(job.pk)}]

    data = jobsctl_json("resume", str(job.pk))
    job.refresh_from_db()
    assert job.state == data["state"] == JobState.ACTIVE
    assert data["next_run_at"] == job.next_run_at.isoformat()
    assert audit_events("resume") == [
        {"actor": OS_USER, "via": "jobsctl", "object_id": str(job.pk)}
    ]


@pytest.mark.django_db
def test_trigger_queues_one_execution_and_records_the_os_user():
    job = cron_job()
    next_run_at = job.next_run_at
    data = jobsctl_json("trigger", str(job.pk)[:8])
    execution = Execution.objects.get(job=job)
    assert data["id"] == execution.pk and data["state"] == "queued" and data["attempt"] == 1
    job.refresh_from_db()
    assert job.next_run_at == next_run_at  # the schedule is kept
    assert audit_events("trigger") == [
        {"actor": OS_USER, "via": "jobsctl", "object_id": str(job.pk)}
    ]
    assert jobsctl("trigger", str(job.pk)).startswith("Queued execution ")


@pytest.mark.django_db
def test_retry_queues_the_next_attempt_and_records_the_os_user():
    job = cron_job()
    dead = finished_execution(job, ExecutionState.DEAD, attempt=4)
    text = jobsctl("retry", str(dead.pk))
    retry = Execution.objects.get(job=job, attempt=5)
    assert text.strip() == f"Queued execution {retry.pk}: attempt 5 of job {str(job.pk)[:8]} " + (
        "(nightly report)."
    )
    assert retry.state == ExecutionState.QUEUED and retry.scheduled_for == dead.scheduled_for
    assert audit_events("retry") == [
        {"actor": OS_USER, "via": "jobsctl", "object_id": str(dead.pk)}
    ]


@pytest.mark.django_db
def test_reads_record_nothing():
    job = cron_job()
    before = AuditEvent.objects.count()
    for args in (["list"], ["show", str(job.pk)], ["executions"], ["stats"], ["workers"]):
        jobsctl(*args)
    assert AuditEvent.objects.count() == before


# --- Refusals -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "0000"], "No job with an id starting '0000'."),
        (["pause", str(uuid.UUID(int=1))], f"No job with an id starting '{uuid.UUID(int=1)}'."),
        (["trigger", "not-a-job"], "'not-a-job' is not a job id (hexadecimal digits and hyphens)."),
        (["resume", "12"], "Give at least 4 characters of the job id."),
        (
            ["executions", "--job", "xyz!"],
            "'xyz!' is not a job id (hexadecimal digits and hyphens).",
        ),
        (["retry", "abc"], "'abc' is not an execution id (a whole number)."),
        (["retry", "²"], "'²' is not an execution id (a whole number)."),
        (["retry", "9" * 30], f"'{'9' * 30}' is not an execution id (a whole number)."),
        (["retry", "424242"], "No execution with id 424242."),
    ],
)
def test_bad_ids_are_refused_on_one_line_and_change_nothing(args, message):
    job = cron_job()
    finished_execution(job, ExecutionState.DEAD)
    before = state_of_everything()
    assert refusal(*args) == message
    assert state_of_everything() == before


@pytest.mark.django_db
def test_an_ambiguous_prefix_is_refused():
    first, second = cron_job("first"), cron_job("second")
    Job.objects.filter(pk=first.pk).update(id=uuid.UUID("abcd0000-0000-4000-8000-000000000001"))
    Job.objects.filter(pk=second.pk).update(id=uuid.UUID("abcd0000-0000-4000-8000-000000000002"))
    before = state_of_everything()
    assert refusal("pause", "abcd") == ("More than one job id starts with 'abcd'; give more of it.")
    assert jobsctl_json("show", "abcd0000-0000-4000-8000-000000000002")["name"] == "second"
    assert state_of_everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("state", "args", "message"),
    [
        (JobState.PAUSED, ["pause"], "Cannot pause a job that is paused."),
        (JobState.ACTIVE, ["resume"], "Cannot resume a job that is active."),
        (JobState.CANCELLED, ["trigger"], "Cannot trigger a job that is cancelled."),
    ],
)
def test_forbidden_job_transitions_are_refused_and_change_nothing(state, args, message):
    job = cron_job()
    Job.objects.filter(pk=job.pk).update(state=state)
    before = state_of_everything()
    assert refusal(*args, str(job.pk)[:8]) == message
    assert state_of_everything() == before


@pytest.mark.django_db
@pytest.mark.parametrize("state", [ExecutionState.QUEUED, ExecutionState.SUCCEEDED])
def test_retry_of_an_execution_that_is_not_dead_is_refused(state):
    execution = finished_execution(cron_job(), state)
    before = state_of_everything()
    assert refusal("retry", str(execution.pk)) == f"Cannot retry a execution that is {state}."
    assert state_of_everything() == before


@pytest.mark.django_db
def test_a_second_retry_of_the_same_attempt_is_refused():
    dead = finished_execution(cron_job(), ExecutionState.DEAD)
    jobsctl("retry", str(dead.pk))
    before = state_of_everything()
    assert refusal("retry", str(dead.pk)) == "Cannot retry a execution that is already retried."
    assert state_of_everything() == before


@pytest.mark.parametrize(
    "args",
    [["nosuch"], ["list", "--limit", "0"], ["list", "--state", "sleeping"], ["show"]],
)
def test_usage_errors_are_refused_on_one_line(args):
    assert refusal(*args).startswith("Error: ")


# --- From a shell -------------------------------------------------------------------------------


def run_jobsctl(*args, user=OS_USER):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "LOGNAME": user,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "jobsctl", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_pause_prints_json_and_is_audited_as_the_os_user():
    job = cron_job()
    result = run_jobsctl("pause", str(job.pk)[:8], "--json", user="carol")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "paused"
    [event] = AuditEvent.objects.filter(action="pause")
    assert (event.actor, event.via, event.actor_id) == ("carol", "jobsctl", None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["pause", "0000ffff"], 1, "CommandError: No job with an id starting '0000ffff'."),
        (["retry", "x1"], 1, "CommandError: 'x1' is not an execution id (a whole number)."),
        (["frobnicate"], 2, "manage.py jobsctl: argument SUBCOMMAND: invalid choice"),
    ],
)
def test_from_a_shell_bad_input_exits_non_zero_with_one_line(args, status, message):
    cron_job()
    before = state_of_everything()
    result = run_jobsctl(*args)
    assert result.returncode == status
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(message), result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert state_of_everything() == before
