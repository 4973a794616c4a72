"""Notifications and signals: queued with the outcome, delivered once, never breaking the job."""

import signal
from datetime import timedelta

import environ
import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.management import call_command
from django.dispatch import receiver
from django.test import override_settings
from django.utils import timezone

from jobs import engine, services
from jobs import signals as job_signals
from jobs.models import Execution, Job, Worker
from jobs.states import ExecutionState, JobState
from tests.conftest import wait_for
from tests.handlers.test_email_handler import Inbox, free_port

pytestmark = pytest.mark.django_db(transaction=True)


def failing_job(**fields):
    defaults = {
        "name": "flaky",
        "handler": "probe",
        "payload": {"mode": "fail"},
        "schedule_type": "once",
        "run_at": timezone.now(),
        "max_retries": 2,
        "retry_backoff_seconds": 0,
        "notify_on": ["dead"],
        "notify_emails": ["ops@example.com"],
    }
    return services.job_create(**{**defaults, **fields})


def notification_jobs():
    return Job.objects.filter(handler="notification")


def fail_next(db, worker, job):
    [execution] = engine.executions_claim(db, worker_id=worker.pk, queues=[job.queue], limit=1)
    engine.execution_fail(db, execution=execution, worker_id=worker.pk, error="boom")
    return execution


def test_dead_notification_is_queued_only_when_the_last_attempt_fails(db):
    job = failing_job()
    worker = Worker.objects.create(name="w", hostname="h", pid=1, queues=["default"])
    fail_next(db, worker, job)
    fail_next(db, worker, job)
    assert not notification_jobs().exists()  # attempts 1 and 2 failed with retries left
    fail_next(db, worker, job)
    [notification] = notification_jobs()
    assert notification.payload["event"] == "dead"
    assert notification.payload["attempt"] == 3
    assert notification.owner_id == job.owner_id


def test_dead_job_sends_exactly_one_email_through_the_worker():
    job = failing_job()
    call_command("runworker", burst=True, concurrency=2)
    assert Execution.objects.filter(job=job, state=ExecutionState.DEAD).count() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    assert message.subject == "[scheduler] dead: flaky"
    assert "probe failed on attempt 3" in message.body


@pytest.fixture
def smtp_inbox():
    """A real SMTP server on 127.0.0.1, configured as the mail server as EMAIL_URL would."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = environ.Env.email_url_config(f"smtp://127.0.0.1:{controller.port}")
        with override_settings(**config):
            yield inbox
    finally:
        controller.stop()


def test_dead_job_sends_exactly_one_email_through_a_real_smtp_server(smtp_inbox):
    # A long backoff: each burst runs one attempt, and the test makes the retry due.
    job = failing_job(retry_backoff_seconds=3600)
    for attempt in (1, 2):
        call_command("runworker", burst=True)
        assert Execution.objects.get(job=job, attempt=attempt).state == ExecutionState.FAILED
        assert not notification_jobs().exists()
        assert smtp_inbox.envelopes == []  # a worker ran after the failure: none before
        Execution.objects.filter(job=job, state=ExecutionState.QUEUED).update(
            run_after=timezone.now()
        )

    call_command("runworker", burst=True)  # the last attempt dies, then its notification runs

    assert Execution.objects.get(job=job, attempt=3).state == ExecutionState.DEAD
    assert smtp_inbox.received.wait(10)
    [envelope] = smtp_inbox.envelopes
    assert envelope.rcpt_tos == ["ops@example.com"]
    content = envelope.content.decode()
    assert "Subject: [scheduler] dead: flaky" in content
    assert "probe failed on attempt 3" in content
    delivery = Execution.objects.get(job__handler="notification")
    assert delivery.state == ExecutionState.SUCCEEDED, delivery.error
    call_command("runworker", burst=True)  # nothing is left to send
    assert len(smtp_inbox.envelopes) == 1


def test_failure_digest_limits_a_flapping_job_to_one_email_per_window(db):
    job = failing_job(
        name="flapping",
        schedule_type="interval",
        run_at=None,
        interval_seconds=60,
        max_retries=0,
        notify_on=["dead", "failure"],
        notify_digest_minutes=15,
    )
    job = services.job_update(job=job, notify_on=["failure"], max_retries=5)
    worker = Worker.objects.create(name="w", hostname="h", pid=1, queues=["default"])
    for _ in range(4):
        services.job_trigger(job=job)
        fail_next(db, worker, job)
    assert notification_jobs().count() == 1
    # The window passes: the next failure mails again.
    Job.objects.filter(pk=job.pk).update(
        last_failure_notified_at=timezone.now() - timedelta(minutes=16)
    )
    services.job_trigger(job=job)
    fail_next(db, worker, job)
    assert notification_jobs().count() == 2


def test_success_and_recovered_events_follow_a_failure(db):
    job = failing_job(
        payload={"mode": "succeed"}, notify_on=["success", "recovered"], max_retries=3
    )
    worker = Worker.objects.create(name="w", hostname="h", pid=1, queues=["default"])
    [execution] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    engine.execution_fail(db, execution=execution, worker_id=worker.pk, error="once")
    Execution.objects.filter(job=job, state=ExecutionState.QUEUED).update(run_after=timezone.now())
    [retry] = engine.executions_claim(db, worker_id=worker.pk, queues=["default"], limit=1)
    engine.outcomes_record(
        db,
        worker_id=worker.pk,
        outcomes=[engine.Outcome(retry, ExecutionState.SUCCEEDED, result=None)],
    )
    events = sorted(notification_jobs().values_list("payload__event", flat=True))
    assert events == ["recovered", "success"]


@override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_PORT=9)
def test_a_refusing_mail_server_fails_the_notification_not_the_job():
    job = failing_job(payload={"mode": "succeed"}, notify_on=["success"])
    call_command("runworker", burst=True)
    assert Execution.objects.get(job=job).state == ExecutionState.SUCCEEDED
    job.refresh_from_db()
    assert job.state == JobState.COMPLETED
    notification = notification_jobs().get()
    attempt = notification.executions.get(attempt=1)
    assert attempt.state == ExecutionState.FAILED
    assert attempt.error.startswith(("SMTP", "ConnectionRefusedError")), attempt.error


def test_signals_are_sent_after_the_outcome_commits():
    seen = []

    @receiver(job_signals.execution_dead)
    def on_dead(sender, execution, **kwargs):
        # After commit: the dead state is visible from the database already.
        seen.append(("dead", Execution.objects.get(pk=execution.pk).state))

    @receiver(job_signals.job_state_changed)
    def on_state(sender, job, before, after, **kwargs):
        seen.append(("job", before, after))

    try:
        failing_job(max_retries=0, notify_on=[], notify_emails=[])
        call_command("runworker", burst=True)
    finally:
        job_signals.execution_dead.disconnect(on_dead)
        job_signals.job_state_changed.disconnect(on_state)
    assert ("dead", ExecutionState.DEAD) in seen
    assert ("job", JobState.ACTIVE, JobState.FAILED) in seen


def test_killed_worker_between_outcome_and_delivery_still_delivers_exactly_one(
    start_worker, tmp_path
):
    mailbox = tmp_path / "mail"
    mailbox.mkdir()
    env = {"TEST_EMAIL_FILE_PATH": str(mailbox), "NOTIFICATION_QUEUE": "notify"}
    failing_job(max_retries=0)
    # This worker records the dead outcome (and, in the same transaction, the notification)
    # but does not take the notify queue: it is killed before anyone delivers.
    doomed = start_worker("--queues", "default", env=env)
    wait_for(lambda: notification_jobs().exists(), message="the notification to be queued")
    doomed.signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    assert not any(mailbox.iterdir())

    start_worker("--queues", "notify", env=env)
    wait_for(
        lambda: Execution.objects.filter(
            job__handler="notification", state=ExecutionState.SUCCEEDED
        ).exists(),
        message="the notification to be delivered",
    )
    assert len(list(mailbox.iterdir())) == 1


def test_worker_killed_before_recording_the_outcome_still_notifies_exactly_once(
    start_worker, tmp_path
):
    mailbox = tmp_path / "mail"
    mailbox.mkdir()
    env = {"TEST_EMAIL_FILE_PATH": str(mailbox)}
    job = failing_job(payload={"mode": "hang"}, max_retries=0)
    # Killed while its only attempt runs: no outcome, so no notification, is written.
    doomed = start_worker("--queues", "default", env=env)
    wait_for(
        lambda: Execution.objects.filter(job=job, state=ExecutionState.RUNNING).exists(),
        message="the attempt to start",
    )
    doomed.signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    assert not notification_jobs().exists()

    # The rescuer dead-letters the abandoned attempt and queues the notification with it.
    start_worker(env=env)
    wait_for(
        lambda: Execution.objects.filter(
            job__handler="notification", state=ExecutionState.SUCCEEDED
        ).exists(),
        timeout=60,
        message="the rescue and the notification",
    )
    assert Execution.objects.get(job=job).state == ExecutionState.DEAD
    assert len(list(mailbox.iterdir())) == 1
    assert notification_jobs().count() == 1


def test_notification_rules_are_validated():
    from jobs.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        failing_job(
            notify_on=["sometimes"],
            notify_emails=["not-an-address"],
            notify_webhook_url="ftp://example.com/x",
            notify_digest_minutes=5000,
        )
    assert set(caught.value.errors) == {
        "notify_on",
        "notify_emails",
        "notify_webhook_url",
        "notify_digest_minutes",
    }
    assert not Job.objects.exists()


def test_webhook_notification_arrives_signed_at_a_local_server():
    import hashlib
    import hmac
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        job = failing_job(
            max_retries=0,
            notify_emails=[],
            notify_webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
            notify_webhook_secret="shh",
        )
        with override_settings(WEBHOOK_ALLOWED_ADDRESSES=["127.0.0.1"]):
            call_command("runworker", burst=True)
    finally:
        server.shutdown()
    [(headers, body)] = received
    expected = hmac.new(b"shh", body, hashlib.sha256).hexdigest()
    assert headers["X-Scheduler-Signature"] == f"sha256={expected}"
    event = json.loads(body)
    assert (event["event"], event["job"]["id"]) == ("dead", str(job.pk))
    assert event["execution"]["attempt"] == 1
