"""The Queues page: depth and running against limits, pause and resume, limits edited
through the service (audited), bad limits a form error, and the permissions it asks."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from jobs.models import AuditEvent, Queue
from tests.admin.conftest import messages_of, run_action

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:jobs_queue_changelist")


def change_url(name: str) -> str:
    return reverse("admin:jobs_queue_change", args=[name])


@pytest.fixture
def mail_queue(make_job):
    make_job(
        owner=None,
        queue="mail",
        schedule_type="once",
        run_at=datetime(2020, 1, 1, tzinfo=UTC),
        interval_seconds=None,
    )
    Queue.objects.filter(name="mail").update(concurrency_limit=3)
    return Queue.objects.get(name="mail")


def test_the_list_shows_depth_and_running_against_the_limit(admin_client, mail_queue):
    page = admin_client.get(CHANGELIST).content.decode()
    assert "mail" in page
    assert "0 / 3" in page  # running / limit
    assert "Open" in page


def test_pause_and_resume_from_the_list_are_audited(admin_client, mail_queue):
    response = run_action(admin_client, CHANGELIST, "pause", mail_queue)
    assert messages_of(response) == ["Paused 1: mail."]
    assert Queue.objects.get(name="mail").paused
    assert "Paused" in admin_client.get(CHANGELIST).content.decode()
    run_action(admin_client, CHANGELIST, "resume", mail_queue)
    events = AuditEvent.objects.filter(object_type="queue").order_by("id")
    assert [(e.action, e.via) for e in events] == [
        ("pause", "admin session"),
        ("resume", "admin session"),
    ]


def test_limits_are_edited_through_the_service(admin_client, mail_queue):
    response = admin_client.post(
        change_url("mail"), {"concurrency_limit": "5", "rate_limit": "20", "rate_period": "1"}
    )
    assert response.status_code == 302
    queue = Queue.objects.get(name="mail")
    assert (queue.concurrency_limit, queue.rate_limit) == (5, 20)
    [event] = AuditEvent.objects.filter(object_type="queue")
    assert event.changes == {"concurrency_limit": [3, 5], "rate_limit": [None, 20]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"concurrency_limit": "0", "rate_period": "1"}, "concurrency_limit"),
        ({"rate_limit": "5", "rate_period": "0"}, "rate_period"),
        ({"rate_period": "999999"}, "rate_period"),
    ],
)
def test_a_bad_limit_is_a_form_error_and_changes_nothing(admin_client, mail_queue, data, field):
    response = admin_client.post(change_url("mail"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Queue.objects.get(name="mail").concurrency_limit == 3
    assert not AuditEvent.objects.filter(object_type="queue").exists()


def test_staff_need_the_queue_permissions(client, make_staff, mail_queue):
    client.force_login(make_staff("view_job"))
    assert client.get(CHANGELIST).status_code == 403
    client.force_login(make_staff("view_queue", username="viewer"))
    assert client.get(CHANGELIST).status_code == 200
    run_action(client, CHANGELIST, "pause", mail_queue)
    assert not Queue.objects.get(name="mail").paused
    assert client.post(change_url("mail"), {"rate_period": "1"}).status_code == 403
