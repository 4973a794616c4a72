"""Fixtures for the handler tests: contexts to call a handler with, servers on loopback."""

import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from django.utils import timezone

from handlers.registry import HandlerContext, get_handler
from jobs.models import Execution, Job
from jobs.services import job_create
from jobs.states import ExecutionState

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _only_loopback(address) -> None:
    if isinstance(address, tuple):
        host = str(address[0]).split("%", 1)[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return
        if not ip.is_loopback:
            raise AssertionError(f"a test tried to connect to {host}, which is not loopback")


@pytest.fixture(autouse=True)
def no_connections_beyond_loopback(monkeypatch):
    """A safety net: if a guard under test failed, nothing may leave this machine."""

    def connect(sock, address):
        _only_loopback(address)
        return _real_connect(sock, address)

    def connect_ex(sock, address):
        _only_loopback(address)
        return _real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)


@pytest.fixture
def bare_ctx():
    """A context for handlers that need no job row (webhook, email)."""
    return HandlerContext(
        job=None, execution=None, attempt=1, logger=logging.getLogger("tests.handler")
    )


@pytest.fixture
def run_handler(db):
    """Create a job of `handler` (validated like any job) and call the handler as a worker would."""

    def run(handler: str, payload: dict, *, owner=None):
        now = timezone.now()
        job = job_create(
            name=f"test {handler}",
            handler=handler,
            payload=payload,
            schedule_type="once",
            run_at=now + timedelta(days=1),
        )
        if owner is not None:
            # Ownership set afterwards: internal handlers refuse owned jobs at creation.
            Job.objects.filter(pk=job.pk).update(owner=owner)
            job.owner = owner
        execution = Execution.objects.create(
            job=job,
            scheduled_for=now,
            attempt=1,
            state=ExecutionState.RUNNING,
            started_at=now,
        )
        ctx = HandlerContext(
            job=job,
            execution=execution,
            attempt=1,
            logger=logging.getLogger(f"jobs.handler.{handler}"),
        )
        return get_handler(handler).func(job.payload, ctx)

    return run


class Recorder(BaseHTTPRequestHandler):
    """Routes: /echo, /status/<code>, /slow?seconds=, /redirect?to=&code=, /loop."""

    def log_message(self, format, *args):  # keep the test output quiet
        pass

    def _reply(self, status: int, body: dict | None = None, headers: dict | None = None):
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.requests.append(
            {"method": self.command, "path": url.path, "headers": dict(self.headers), "body": body}
        )
        if url.path == "/echo":
            self._reply(200, {"method": self.command, "body": body, "headers": dict(self.headers)})
        elif url.path.startswith("/status/"):
            self._reply(int(url.path.rsplit("/", 1)[1]), {"detail": "as asked"})
        elif url.path == "/slow":
            time.sleep(float(query.get("seconds", 2)))
            self._reply(200, {"slow": True})
        elif url.path == "/redirect":
            self._reply(int(query.get("code", 302)), headers={"Location": query["to"]})
        elif url.path == "/loop":
            self._reply(302, headers={"Location": "/loop"})
        else:
            self._reply(404)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


def serve(tls: ssl.SSLContext | None = None):
    """Start a Recorder server on 127.0.0.1 (over TLS if given); yield it, then stop it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.daemon_threads = True
    server.requests = []
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls else "http"
    server.url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_server():
    """An HTTP server on 127.0.0.1 that records what it receives."""
    yield from serve()


@pytest.fixture
def tls_ca():
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture
def https_server(tls_ca):
    """An HTTPS server on 127.0.0.1 whose certificate (from `tls_ca`) names hooks.example.test."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls_ca.issue_cert("hooks.example.test").configure_cert(context)
    yield from serve(context)
