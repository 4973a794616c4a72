"""The webhook's bounds against a misbehaving server: one deadline over the whole request,
and size limits counted on the bytes read and on what they inflate to."""

import time
import tracemalloc
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import override_settings
from django.utils import timezone

from handlers import webhook
from jobs.models import Execution
from jobs.services import job_create
from jobs.states import ErrorCode, ExecutionState
from tests.conftest import wait_for

from .slowloris import BOMB, SlowServer

LOOPBACK_ALLOWED = override_settings(WEBHOOK_ALLOWED_ADDRESSES=["127.0.0.1/32"])


@pytest.fixture
def slow_server():
    server = SlowServer()
    yield server
    server.close()


def get(url, *, timeout=5.0, ctx=None):
    return webhook.request(
        method="GET", url=url, headers={}, content=None, timeout=timeout, max_redirects=0, ctx=ctx
    )


@LOOPBACK_ALLOWED
def test_headers_sent_a_byte_a_second_end_at_the_timeout_and_the_socket_closes(slow_server):
    started = time.monotonic()
    with pytest.raises(webhook.WebhookError, match=r"Timed out after 2 s"):
        get(f"{slow_server.url}/loris", timeout=2)
    elapsed = time.monotonic() - started

    assert 1.9 < elapsed < 2.5
    # The server sees the client gone within its next byte: the socket was closed.
    connection = wait_for(lambda: slow_server.connections[0].closed and slow_server.connections[0])
    assert connection.closed - connection.opened < 3.5


@LOOPBACK_ALLOWED
def test_a_body_sent_a_byte_a_second_ends_at_the_timeout(slow_server):
    started = time.monotonic()
    with pytest.raises(webhook.WebhookError, match=r"Timed out after 1.5 s"):
        get(f"{slow_server.url}/slow-body", timeout=1.5)
    assert time.monotonic() - started < 2.0


@LOOPBACK_ALLOWED
def test_the_runs_timeout_caps_the_request_when_it_is_shorter(slow_server):
    ctx = SimpleNamespace(job=SimpleNamespace(effective_timeout=1), raise_if_cancelled=lambda: None)
    started = time.monotonic()
    with pytest.raises(webhook.WebhookError, match=r"Timed out after 1 s"):
        get(f"{slow_server.url}/loris", timeout=30, ctx=ctx)
    assert time.monotonic() - started < 1.5


@LOOPBACK_ALLOWED
def test_a_gzip_bomb_is_cut_at_the_limit_without_inflating_it_in_memory(slow_server):
    tracemalloc.start()
    try:
        result = get(f"{slow_server.url}/gzip-bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result["status"] == 200
    assert result["truncated"] is True
    assert result["body"] == "\0" * webhook.MAX_STORED_BODY_CHARS
    # 200 MB behind ~200 KB on the wire; inflating it all would cost hundreds of megabytes.
    assert len(BOMB) < 250_000
    assert peak < 4 * webhook.MAX_RESPONSE_BYTES + 2_000_000


@LOOPBACK_ALLOWED
def test_an_uncompressed_answer_past_the_limit_is_cut(slow_server):
    result = get(f"{slow_server.url}/big")

    assert result["truncated"] is True
    assert result["body"] == "c" * webhook.MAX_STORED_BODY_CHARS


@LOOPBACK_ALLOWED
def test_an_encoding_the_client_did_not_ask_for_fails_the_attempt(slow_server):
    with pytest.raises(webhook.WebhookError, match="Content-Encoding 'br' is not supported"):
        get(f"{slow_server.url}/brotli")


@pytest.mark.django_db(transaction=True)
@LOOPBACK_ALLOWED
def test_a_webhook_job_against_a_slow_loris_server_ends_failed_within_3_seconds(
    slow_server, start_worker
):
    job = job_create(
        name="loris",
        handler="webhook",
        schedule_type="once",
        run_at=timezone.now(),
        payload={"url": f"{slow_server.url}/loris", "method": "GET"},
        timeout_seconds=2,
        max_retries=0,
    )
    worker = start_worker("--concurrency", "1", env={"WEBHOOK_ALLOWED_ADDRESSES": "127.0.0.1/32"})

    execution = wait_for(
        lambda: Execution.objects.filter(job=job, finished_at__isnull=False).first(),
        timeout=30,
        message=f"the run to end; worker output:\n{worker.output()}",
    )
    assert execution.state == ExecutionState.DEAD
    assert execution.finished_at - execution.started_at < timedelta(seconds=3)
    assert execution.error_code in (ErrorCode.TIMEOUT, ErrorCode.EXCEPTION)
    # Not only given up by the worker: the request itself ended and closed its socket.
    connection = wait_for(lambda: slow_server.connections[0].closed and slow_server.connections[0])
    assert connection.closed - connection.opened < 3.5
