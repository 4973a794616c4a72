"""Abandoned handler threads: a worker caps them (WORKER_MAX_ABANDONED_THREADS), stops
claiming while at the cap, says so once, and resumes when they end; and a worker fed
slow-loris webhooks for a minute keeps its threads and sockets bounded."""

import logging
import os
import re
import threading
import time
from datetime import timedelta

import psutil
import pytest
from django.test import override_settings
from django.utils import timezone

from jobs import registry, services
from jobs.models import Execution
from jobs.states import ExecutionState
from jobs.worker import WorkerProcess
from ops import metrics
from tests.conftest import wait_for
from tests.handlers.slowloris import SlowServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

STOPPED = "Worker stopped claiming"
RESUMED = "Worker resumed claiming"


def make_job(**fields):
    defaults = {
        "name": "probe",
        "handler": "probe",
        "payload": {"mode": "record"},
        "schedule_type": "once",
        "run_at": timezone.now(),
        "max_retries": 0,
    }
    return services.job_create(**{**defaults, **fields})


def count(state, **filters) -> int:
    return Execution.objects.filter(state=state, **filters).count()


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def sockets_of(pid: int) -> int:
    fds = f"/proc/{pid}/fd"
    names = []
    for fd in os.listdir(fds):
        try:
            names.append(os.readlink(f"{fds}/{fd}"))
        except FileNotFoundError:
            continue  # closed while we looked
    return sum(name.startswith("socket:") for name in names)


def test_a_worker_at_the_cap_claims_nothing_and_says_so_once(start_worker):
    worker = start_worker("--concurrency", "1", env={"WORKER_MAX_ABANDONED_THREADS": "2"})
    wait_for(lambda: "Worker started" in worker.output(), message="the worker to start")
    idle_threads = threads_of(worker.pid)
    hung = [
        make_job(name=f"hung {i}", payload={"mode": "hang"}, timeout_seconds=1, priority=10)
        for i in range(3)
    ]
    waiting = make_job(name="waiting")

    wait_for(
        lambda: count(ExecutionState.DEAD) == 2,
        timeout=20,
        message=f"two timeouts; worker output:\n{worker.output()}",
    )
    time.sleep(2.5)  # two more timeouts' worth: nothing more is claimed

    assert count(ExecutionState.DEAD) == 2
    assert count(ExecutionState.QUEUED) == 2
    assert not Execution.objects.filter(job__in=[hung[2], waiting], worker__isnull=False).exists()
    # Two hung threads abandoned, the slot thread replaced: two more than when idle.
    assert threads_of(worker.pid) == idle_threads + 2
    assert worker.output().count(STOPPED) == 1
    assert "WORKER_MAX_ABANDONED_THREADS=2" in worker.output()
    # /metrics shows the count, from the worker's next heartbeat on.
    gauge = re.compile(rb'^scheduler_worker_abandoned_threads\{worker="[^"]+"\} (\S+)$', re.M)
    wait_for(
        lambda: [float(v) for v in gauge.findall(metrics.render()[0])] == [2.0],
        timeout=15,
        message=f"the gauge at 2: {gauge.findall(metrics.render()[0])}",
    )


@pytest.fixture
def stuck_handler(monkeypatch):
    """Register `stuck`: it ignores cancellation and returns only when `release` is set."""
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    release = threading.Event()

    @registry.register("stuck", description="Test handler: waits for the test.")
    def stuck(payload, ctx):
        release.wait(60)
        return {"released": release.is_set()}

    yield release
    release.set()


def test_the_worker_resumes_claiming_when_abandoned_threads_end(stuck_handler, settings, caplog):
    settings.WORKER_MAX_ABANDONED_THREADS = 2
    for i in range(2):
        make_job(name=f"stuck {i}", handler="stuck", payload={}, timeout_seconds=1, priority=10)
    waiting = make_job(name="waiting")
    process = WorkerProcess(queues=["default"], concurrency=1)
    runner = threading.Thread(target=process.run)
    with caplog.at_level(logging.INFO, logger="jobs.worker"):
        runner.start()
        try:
            wait_for(lambda: count(ExecutionState.DEAD) == 2, timeout=20, message="timeouts")
            time.sleep(1)
            assert process.slots.abandoned_count == 2
            assert count(ExecutionState.QUEUED, job=waiting) == 1

            stuck_handler.set()
            wait_for(
                lambda: count(ExecutionState.SUCCEEDED, job=waiting) == 1,
                timeout=10,
                message="the waiting job to run once the stuck threads ended",
            )
            assert process.slots.abandoned_count == 0
        finally:
            process.stopping.set()
            process.wake.set()
            runner.join(30)
    messages = [r.getMessage() for r in caplog.records if r.name == "jobs.worker"]
    assert sum(STOPPED in m for m in messages) == 1
    assert sum(RESUMED in m for m in messages) == 1
    stopped = next(r for r in caplog.records if STOPPED in r.getMessage())
    assert stopped.abandoned_threads == 2
    assert not runner.is_alive()


def test_a_minute_of_slow_loris_webhooks_keeps_threads_and_sockets_bounded(start_worker):
    cap, concurrency = 2, 1
    server = SlowServer()
    try:
        worker = start_worker(
            "--concurrency",
            str(concurrency),
            env={
                "WEBHOOK_ALLOWED_ADDRESSES": "127.0.0.1/32",
                "WORKER_MAX_ABANDONED_THREADS": str(cap),
            },
        )
        wait_for(lambda: "Worker started" in worker.output(), message="the worker to start")
        time.sleep(0.5)
        idle_threads, idle_sockets = threads_of(worker.pid), sockets_of(worker.pid)
        with override_settings(WEBHOOK_ALLOWED_ADDRESSES=["127.0.0.1/32"]):
            for i in range(2):
                make_job(
                    name=f"loris {i}",
                    handler="webhook",
                    payload={"url": f"{server.url}/loris", "method": "GET"},
                    schedule_type="interval",
                    run_at=None,
                    interval_seconds=1,
                    timeout_seconds=1,
                )
        process = psutil.Process(worker.pid)
        most_threads = most_sockets = most_to_server = 0
        end = time.monotonic() + 60
        while time.monotonic() < end:
            most_threads = max(most_threads, threads_of(worker.pid))
            most_sockets = max(most_sockets, sockets_of(worker.pid))
            to_server = [
                c for c in process.net_connections("tcp") if c.raddr and c.raddr.port == server.port
            ]
            most_to_server = max(most_to_server, len(to_server))
            time.sleep(0.25)

        ran = count(ExecutionState.FAILED) + count(ExecutionState.DEAD)
        assert ran >= 25, worker.output()
        assert len(server.connections) >= 25
        # The bound the cap promises, and what it holds in fact: each request ends at its
        # deadline, so hardly any thread outlives its run.
        assert most_threads <= idle_threads + cap
        assert most_to_server <= concurrency + cap
        assert most_sockets <= idle_sockets + concurrency + cap
        # Every request but the latest ended (its socket closed) by its deadline.
        settled = [c for c in server.connections if c.opened < time.monotonic() - 5]
        assert settled and all(c.closed and c.closed - c.opened < 3.5 for c in settled)
        assert Execution.objects.filter(
            finished_at__gt=timezone.now() - timedelta(seconds=5)
        ).exists()
    finally:
        server.close()
