"""Fencing: a worker cut off from PostgreSQL stops its handlers within its lease, says so,
and is back within seconds of the heal; every job still succeeds exactly once.

The worker reaches the database through a TCP relay on loopback that the test cuts: while
cut, nothing crosses it either way (what is sent waits, as on a dead link), and at the heal
it flows again. A second worker, connected directly, rescues what the cut one held.
"""

import contextlib
import os
import socket
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from jobs import services
from jobs.models import Execution
from jobs.states import ErrorCode, ExecutionState
from tests.conftest import database_url, wait_for
from tests.runlog.models import RunLog

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Link:
    """A relay from a loopback port to the test database's server that can be cut."""

    def __init__(self):
        settings = connection.settings_dict
        host, port = settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)
        if host.startswith("/"):  # the embedded server: its unix socket
            self.upstream = (socket.AF_UNIX, os.path.join(host, f".s.PGSQL.{port}"))
        else:
            self.upstream = (socket.AF_INET, (host, port))
        self.open = threading.Event()
        self.open.set()
        self.closing = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        direct = database_url()
        name = direct.rsplit("/", 1)[1]
        user = connection.settings_dict["USER"] or ""
        password = connection.settings_dict["PASSWORD"]
        secret = f":{password}" if password else ""
        return f"postgres://{user}{secret}@127.0.0.1:{self.port}/{name.split('?')[0]}"

    def cut(self) -> None:
        self.open.clear()

    def heal(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.closing = True
        self.open.set()
        for sock in self.sockets:
            _hang_up(sock)

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            family, address = self.upstream
            server = socket.socket(family, socket.SOCK_STREAM)
            server.connect(address)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:  # one side closed: close the other, so its session ends too
                _hang_up(sink)
                return
            self.open.wait()  # cut: the bytes wait here
            try:
                sink.sendall(data)
            except OSError:
                _hang_up(source)
                return


def _hang_up(sock: socket.socket) -> None:
    # shutdown, not only close: a close leaves a thread blocked reading the socket blocked,
    # and the connection open; shutdown wakes it and tells the other end at once.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def link():
    made = Link()
    yield made
    made.close()


def test_a_worker_cut_off_stops_its_handlers_within_its_lease_and_is_back_after_the_heal(
    link, start_worker
):
    jobs = [
        services.job_create(
            owner=None,
            name=f"long {n}",
            handler="probe",
            # The first attempt sleeps (cooperatively) for a minute; a rescue's is quick.
            payload={"mode": "sleep", "seconds": 60, "sleep_attempts": [1]},
            schedule_type="once",
            run_at=timezone.now(),
        )
        for n in range(3)
    ]
    cut_off = start_worker("--concurrency", "3", url=link.url())
    wait_for(lambda: RunLog.objects.count() == 3, message="the three handlers to start")

    link.cut()
    cut_at = time.monotonic()
    start_worker("--concurrency", "3")  # the rescuer, connected directly
    wait_for(
        lambda: "Worker fenced: all 3 of its handlers stopped" in cut_off.output(),
        timeout=10,
        message="the cut-off worker to fence itself and its handlers to stop",
    )
    fenced_after = time.monotonic() - cut_at
    assert fenced_after < 3  # WORKER_LEASE_SECONDS in the tests
    assert "stopped claiming and asked its 3 running handlers to stop" in cut_off.output()
    wait_for(
        lambda: Execution.objects.filter(state=ExecutionState.SUCCEEDED).count() == 3,
        timeout=30,
        message="the rescuer to run the three again",
    )

    link.heal()
    healed_at = time.monotonic()
    wait_for(
        lambda: "fence lifted, claiming again" in cut_off.output(),
        timeout=5,
        message="the cut-off worker to be back within 5 s of the heal",
    )
    back_after = time.monotonic() - healed_at
    for job in jobs:
        history = list(job.executions.order_by("attempt"))
        assert [(e.attempt, e.state, e.error_code) for e in history] == [
            (1, ExecutionState.FAILED, ErrorCode.WORKER_LOST),
            (2, ExecutionState.SUCCEEDED, ErrorCode.NONE),
        ]
    print(f"fenced {fenced_after:.2f} s after the cut; back {back_after:.2f} s after the heal")


def test_a_short_cut_puts_what_the_fence_stopped_back_in_the_queue_to_run_again(link, start_worker):
    # Cut past the fence (70 % of the 3 s lease) but healed before the lease ends: nobody
    # rescues, and the stopped runs are released, not cancelled, and run again.
    jobs = [
        services.job_create(
            owner=None,
            name=f"nap {n}",
            handler="probe",
            payload={"mode": "sleep", "seconds": 4},
            schedule_type="once",
            run_at=timezone.now(),
        )
        for n in range(3)
    ]
    worker = start_worker("--concurrency", "3", url=link.url())
    wait_for(lambda: RunLog.objects.count() == 3, message="the three handlers to start")
    link.cut()
    wait_for(
        lambda: "Worker fenced: all 3 of its handlers stopped" in worker.output(),
        timeout=5,
        message="the fence",
    )
    link.heal()
    wait_for(
        lambda: Execution.objects.filter(state=ExecutionState.SUCCEEDED).count() == 3,
        timeout=30,
        message="the three to run again and succeed",
    )
    for job in jobs:
        assert [(e.attempt, e.state) for e in job.executions.all()] == [
            (1, ExecutionState.SUCCEEDED)
        ]
    assert RunLog.objects.count() == 6  # each stopped once, then run whole
    assert RunLog.objects.filter(finished_at__isnull=False).count() == 3
    assert "Released 3 executions claimed ahead: stopped by the fence" in worker.output()
