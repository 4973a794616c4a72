"""The email handler through Django's locmem backend and a real SMTP server on loopback."""

import socket
import threading

import environ
import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from handlers import email as email_handler
from jobs.exceptions import ValidationError
from jobs.models import Execution
from jobs.services import job_create
from jobs.states import ExecutionState

MESSAGE = {
    "to": ["ann@example.com"],
    "cc": ["cid@example.com"],
    "bcc": ["bea@example.com"],
    "reply_to": ["desk@example.com"],
    "subject": "Your report",
    "body": "Plain text.",
    "html": "<p>Rich <b>text</b>.</p>",
}


class Inbox:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self):
        self.envelopes = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.received.set()
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    """A real SMTP server on 127.0.0.1, for the duration of one test."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield inbox
    controller.stop()


def test_email_is_sent_with_to_cc_bcc_and_an_html_alternative(run_handler):
    result = run_handler("email", MESSAGE)

    [sent] = mail.outbox
    assert sent.to == ["ann@example.com"]
    assert sent.cc == ["cid@example.com"]
    assert sent.bcc == ["bea@example.com"]
    assert sent.reply_to == ["desk@example.com"]
    assert sent.subject == "Your report"
    assert sent.body == "Plain text."
    assert sent.alternatives[0][0] == "<p>Rich <b>text</b>.</p>"
    assert sent.alternatives[0][1] == "text/html"
    assert sent.extra_headers["Message-ID"] == result["message_id"]
    assert result["recipients"] == 3


def test_html_only_email_gets_a_plain_text_part(run_handler):
    run_handler("email", {"to": ["ann@example.com"], "subject": "Hi", "html": "<p>Hello</p>"})

    assert mail.outbox[0].body == "Hello"


def test_email_goes_through_a_real_smtp_server_configured_by_email_url(run_handler, smtp_server):
    config = environ.Env.email_url_config(smtp_server.url)
    with override_settings(**config):
        run_handler("email", MESSAGE)

    assert smtp_server.received.wait(10)
    [envelope] = smtp_server.envelopes
    # Bcc is an envelope recipient, never a header.
    assert sorted(envelope.rcpt_tos) == ["ann@example.com", "bea@example.com", "cid@example.com"]
    content = envelope.content.decode()
    assert "Subject: Your report" in content
    assert "text/html" in content
    assert "bea@example.com" not in content


def test_unreachable_smtp_server_fails_the_attempt(run_handler):
    with (
        override_settings(**environ.Env.email_url_config(f"smtp://127.0.0.1:{free_port()}")),
        pytest.raises(ConnectionRefusedError),
    ):
        run_handler("email", MESSAGE)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**MESSAGE, "to": [f"user{i}@example.com" for i in range(60)]}, "the limit is 50"),
        ({**MESSAGE, "to": ["not-an-address"]}, "is not an email address"),
        ({**MESSAGE, "cc": ["ann@example.com", "@example.com"]}, "cc/1"),
        ({**MESSAGE, "subject": "Hi\r\nBcc: all@example.com"}, "does not match"),
        ({"to": ["ann@example.com"], "subject": "No body"}, "is not valid under any"),
        ({**MESSAGE, "to": []}, "should be non-empty"),
        ({**MESSAGE, "from_email": "ceo@example.com"}, "Additional properties"),
    ],
)
@pytest.mark.django_db
def test_a_bad_email_payload_is_refused_when_the_job_is_created(payload, message):
    with pytest.raises(ValidationError) as refused:
        job_create(
            name="mail",
            handler="email",
            payload=payload,
            schedule_type="once",
            run_at=timezone.now(),
        )
    assert any(message in text for text in refused.value.errors["payload"]), refused.value.errors


@pytest.mark.django_db
def test_the_recipient_bound_counts_to_cc_and_bcc_together_and_follows_the_setting():
    payload = {**MESSAGE}  # three distinct recipients
    with override_settings(EMAIL_MAX_RECIPIENTS=2), pytest.raises(ValidationError):
        job_create(
            name="mail",
            handler="email",
            payload=payload,
            schedule_type="once",
            run_at=timezone.now(),
        )
    # Checked again when sending: the setting may have been lowered since the job was made.
    with override_settings(EMAIL_MAX_RECIPIENTS=2), pytest.raises(email_handler.EmailError):
        email_handler.send_email(
            owner_id=None, **{k: v for k, v in payload.items() if k != "reply_to"}
        )
    assert mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_email_job_runs_on_the_worker():
    job = job_create(
        name="mail", handler="email", payload=MESSAGE, schedule_type="once", run_at=timezone.now()
    )

    call_command("runworker", burst=True)

    execution = Execution.objects.get(job=job)
    assert execution.state == ExecutionState.SUCCEEDED, execution.error
    assert execution.result["recipients"] == 3
    assert [m.subject for m in mail.outbox] == ["Your report"]
