"""GET /api/v1/queues, PATCH queues/{name}, POST queues/{name}/pause and resume."""

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Job, Queue

pytestmark = pytest.mark.django_db

PAST = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
def operator(make_staff_client):
    return make_staff_client("change_queue")


@pytest.fixture
def make_staff_client(django_user_model):
    from django.contrib.auth.models import Permission

    from tests.api.conftest import client_with_token, issue_secret

    def make(*codenames):
        user = django_user_model.objects.create_user(
            username="operator", password="pw-operator-123", is_staff=True
        )
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        return client_with_token(issue_secret(user))

    return make


def test_every_queue_a_job_names_is_listed_with_what_it_holds(alice, make_job):
    make_job(owner=None, queue="mail", schedule_type="once", run_at=PAST, interval_seconds=None)
    make_job(owner=None, queue="reports")
    body = alice.get("/api/v1/queues").json()
    by_name = {q["name"]: q for q in body}
    assert {"mail", "reports"} <= set(by_name)
    mail = by_name["mail"]
    assert (mail["queued"], mail["due"], mail["running"], mail["paused"]) == (1, 1, 0, False)
    assert (mail["concurrency_limit"], mail["rate_limit"], mail["rate_period"]) == (None, None, 1)
    assert mail["held_back"] == {"concurrency": 0, "rate": 0, "key": 0}
    assert by_name["reports"]["queued"] == 0


def test_staff_with_change_permission_set_limits_pause_and_resume(operator, make_job):
    make_job(owner=None, queue="mail")
    response = operator.patch(
        "/api/v1/queues/mail", {"concurrency_limit": 5, "rate_limit": 20}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["concurrency_limit"], response.json()["rate_limit"]) == (5, 20)
    assert operator.post("/api/v1/queues/mail/pause").json()["paused"] is True
    assert Queue.objects.get(name="mail").paused
    assert operator.post("/api/v1/queues/mail/resume").json()["paused"] is False
    removed = operator.patch("/api/v1/queues/mail", {"rate_limit": None}, format="json").json()
    assert removed["rate_limit"] is None and removed["concurrency_limit"] == 5
    actions = list(
        AuditEvent.objects.filter(object_type="queue")
        .order_by("id")
        .values_list("action", "changes")
    )
    assert actions == [
        ("edit", {"concurrency_limit": [None, 5], "rate_limit": [None, 20]}),
        ("pause", {"paused": [False, True]}),
        ("resume", {"paused": [True, False]}),
        ("edit", {"rate_limit": [20, None]}),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"concurrency_limit": 0}, "concurrency_limit"),
        ({"rate_limit": -3}, "rate_limit"),
        ({"rate_period": 0}, "rate_period"),
        ({"rate_period": None}, "rate_period"),
        ({"concurrency_limit": "many"}, "concurrency_limit"),
        ({"paused": True}, "paused"),
    ],
)
def test_bad_limits_are_a_400_naming_the_field_and_change_nothing(operator, make_job, body, field):
    make_job(owner=None, queue="mail")
    response = operator.patch("/api/v1/queues/mail", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    queue = Queue.objects.get(name="mail")
    assert (queue.concurrency_limit, queue.rate_limit, queue.rate_period) == (None, None, 1)
    assert not AuditEvent.objects.filter(object_type="queue").exists()


def test_a_queue_no_job_names_is_a_404(operator):
    for response in (
        operator.patch("/api/v1/queues/nowhere", {"concurrency_limit": 2}, format="json"),
        operator.post("/api/v1/queues/nowhere/pause"),
        operator.get("/api/v1/queues/nowhere"),
    ):
        assert response.status_code == 404
        assert "nowhere" in response.json()["detail"]
    assert not Queue.objects.filter(name="nowhere").exists()


def test_changes_need_the_change_permission(alice, root, make_staff_client, make_job):
    make_job(owner=None, queue="mail")
    viewer = make_staff_client("view_queue")
    for client in (alice, viewer):
        assert client.post("/api/v1/queues/mail/pause").status_code == 403
        assert (
            client.patch("/api/v1/queues/mail", {"rate_limit": 1}, format="json").status_code == 403
        )
        assert client.get("/api/v1/queues/mail").status_code == 200
    assert root.post("/api/v1/queues/mail/pause").status_code == 200  # a superuser


def test_the_api_takes_and_shows_the_key(alice):
    body = {
        "name": "per customer",
        "handler": "noop",
        "schedule_type": "once",
        "run_at": timezone.now().isoformat(),
        "concurrency_key": "customer:42",
        "concurrency_limit": 1,
    }
    created = alice.post("/api/v1/jobs", body, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["concurrency_key"], created.json()["concurrency_limit"]) == (
        "customer:42",
        1,
    )
    refused = alice.post("/api/v1/jobs", {**body, "concurrency_limit": None}, format="json")
    assert refused.status_code == 400
    assert "concurrency_limit" in refused.json()["errors"]
    assert Job.objects.count() == 1
