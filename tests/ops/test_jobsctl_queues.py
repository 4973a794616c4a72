"""`jobsctl queues`, `pause-queue`, `resume-queue`: the queues from a shell, audited."""

import pytest

from jobs.models import AuditEvent, Queue
from tests.ops.test_jobsctl import cron_job, jobsctl, jobsctl_json, refusal, run_jobsctl

pytestmark = pytest.mark.django_db


def test_queues_lists_every_queue_with_its_limits():
    cron_job(queue="mail")
    Queue.objects.filter(name="mail").update(concurrency_limit=3, rate_limit=20)
    table = jobsctl("queues")
    assert table.splitlines()[0].split()[:3] == ["QUEUE", "PAUSED", "QUEUED"]
    [mail] = [line for line in table.splitlines() if line.startswith("mail ")]
    assert "20/1s" in mail and " 3 " in mail
    data = {q["name"]: q for q in jobsctl_json("queues")}
    assert (data["mail"]["concurrency_limit"], data["mail"]["paused"]) == (3, False)


def test_pause_and_resume_a_queue_are_audited_as_the_os_user():
    cron_job(queue="mail")
    assert jobsctl("pause-queue", "mail").startswith("Paused queue mail")
    assert Queue.objects.get(name="mail").paused
    assert jobsctl_json("resume-queue", "mail")["paused"] is False
    events = AuditEvent.objects.filter(object_type="queue").order_by("id")
    assert [(e.action, e.via) for e in events] == [("pause", "jobsctl"), ("resume", "jobsctl")]


def test_a_queue_no_job_names_is_refused_in_one_line():
    assert refusal("pause-queue", "nowhere") == "No job names a queue 'nowhere'."
    assert not Queue.objects.filter(name="nowhere").exists()


@pytest.mark.django_db(transaction=True)
def test_from_a_shell_a_missing_queue_name_exits_2():
    result = run_jobsctl("pause-queue")
    assert result.returncode == 2
    assert "the following arguments are required: QUEUE" in result.stderr
