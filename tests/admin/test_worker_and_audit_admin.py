"""The worker admin (alive, stale, stopped, what each runs) and the read-only audit trail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Worker
from jobs.states import ExecutionState

pytestmark = pytest.mark.django_db


def make_worker(name: str, *, silent_for: float = 0, stopped: bool = False) -> Worker:
    now = timezone.now()
    return Worker.objects.create(
        name=name,
        hostname="host-1",
        pid=100,
        queues=["default"],
        handlers=["noop", "sleep"],
        heartbeat_at=now - timedelta(seconds=silent_for),
        stopped_at=now if stopped else None,
    )


def test_workers_are_shown_alive_stale_or_stopped_with_what_they_run(
    admin_client, make_job, make_execution
):
    alive = make_worker("w-alive")
    make_worker("w-stale", silent_for=3600)
    make_worker("w-stopped", stopped=True)
    make_execution(make_job(), ExecutionState.RUNNING, worker=alive)

    page = admin_client.get("/admin/jobs/worker/").content.decode()
    only_alive = admin_client.get("/admin/jobs/worker/?status=alive").content.decode()
    detail = admin_client.get(f"/admin/jobs/worker/{alive.pk}/change/").content.decode()

    for status in ("alive", "stale", "stopped"):
        assert f'sched-worker-{status}">{status}</span>' in page
    assert f"?worker__id__exact={alive.pk}&amp;state__exact=running" in page
    assert "w-alive" in only_alive and "w-stale" not in only_alive
    assert "hourly (attempt 1" in detail
    assert "noop, sleep" in detail  # the handlers it has, and so claims


def test_workers_cannot_be_added_or_edited(admin_client):
    worker = make_worker("w1")

    assert admin_client.get("/admin/jobs/worker/add/").status_code == 403
    admin_client.post(f"/admin/jobs/worker/{worker.pk}/change/", {"name": "renamed"})
    worker.refresh_from_db()
    assert worker.name == "w1"


def test_the_audit_trail_is_readable_and_never_writable(admin_client, make_job):
    job = make_job()
    event = AuditEvent.objects.get(action="create")

    page = admin_client.get("/admin/jobs/auditevent/").content.decode()
    by_object = admin_client.get(f"/admin/jobs/auditevent/?q={job.pk}").content.decode()

    assert "create" in page and str(job.pk) in by_object
    assert admin_client.get("/admin/jobs/auditevent/add/").status_code == 403
    url = f"/admin/jobs/auditevent/{event.pk}"
    assert admin_client.post(f"{url}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
