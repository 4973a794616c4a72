"""Rolling deploys: a worker claims only executions whose handler it has. One of an older
release (here: started without the test handlers) leaves a new handler's work queued for the
workers that have it, instead of failing it with HandlerNotFound; the dashboard and /metrics
name what waits for a handler no live worker has (real worker processes)."""

import time

import pytest

from jobs import services
from jobs.models import Execution, Worker
from jobs.selectors.snapshot import snapshot
from jobs.states import ExecutionState
from ops import metrics
from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WITHOUT_PROBE = {"TEST_HANDLER_MODULES": ""}


def test_a_worker_without_a_handler_never_claims_its_executions_while_another_has_it(
    start_worker, client, staff_user
):
    probes = services.jobs_create_many(handler="probe", payloads=[{"mode": "succeed"}] * 30)
    probes += services.jobs_create_many(
        handler="probe",
        payloads=[{"mode": "succeed"}] * 10,
        concurrency_key="k",
        concurrency_limit=2,
    )
    noops = services.jobs_create_many(handler="noop", payloads=[{}] * 30)
    old = start_worker("--concurrency", "4", env=WITHOUT_PROBE)
    wait_for(
        lambda: (
            Execution.objects.filter(job__in=noops, state=ExecutionState.SUCCEEDED).count() == 30
        ),
        message="the old worker to run the noops",
    )
    time.sleep(1)  # a few more polls in which it could have claimed the probes
    of_probe = Execution.objects.filter(job__in=probes)
    assert of_probe.count() == 40
    assert set(of_probe.values_list("state", "worker")) == {(ExecutionState.QUEUED, None)}

    assert snapshot().waiting_for_handler == {"probe": 40}
    assert b'scheduler_executions_waiting_for_handler{handler="probe"} 40.0' in metrics.render()[0]
    client.force_login(staff_user)
    dashboard = client.get("/admin/dashboard/").content.decode()
    assert "40 due executions of <code>probe</code> wait for a worker" in dashboard

    new = start_worker("--concurrency", "4")
    wait_for(
        lambda: of_probe.filter(state=ExecutionState.SUCCEEDED).count() == 40,
        message="the new worker to run the probes",
    )
    new_id = Worker.objects.get(pid=new.pid).pk
    assert set(of_probe.values_list("worker", "attempt", "error_code")) == {(new_id, 1, "")}
    assert Worker.objects.get(pid=old.pid).handlers == sorted(
        set(Worker.objects.get(pid=new.pid).handlers) - {"probe", "chatty"}
    )
    assert snapshot().waiting_for_handler == {}
