"""Who may do what through the API: every endpoint and action, for every kind of account.

Each row of MATRIX is one request; each column one role (ROLES) acting on it. The objects acted on
belong to "owner" (an ordinary user), except in the `staff owner` column, where a staff user
without any permission acts on objects of their own, and in the rows about the scheduler's
own job (no owner). A cell is the status expected, or, for a list, whether the object shows
in it (IN / OUT, with a 200). A refused request (403, 404) changes nothing.

The rule behind the table is jobs.policy: staff reach others' objects as their model
permissions allow (view or change to see, change to act, delete to delete), and no one
changes the scheduler's own jobs through the API.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from jobs import services
from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState
from tests.api.conftest import client_with_token, issue_secret

pytestmark = pytest.mark.django_db

IN, OUT = "in", "out"

# The roles, each a column: (staff, superuser, permissions).
ROLES = {
    "owner": (False, False, ()),
    "other": (False, False, ()),
    "staff": (True, False, ()),
    "add_job": (True, False, ("add_job",)),
    "view_job": (True, False, ("view_job",)),
    "change_job": (True, False, ("change_job",)),
    "delete_job": (True, False, ("delete_job",)),
    "view+delete_job": (True, False, ("view_job", "delete_job")),
    "view_execution": (True, False, ("view_execution",)),
    "change_execution": (True, False, ("change_execution",)),
    "view_auditevent": (True, False, ("view_auditevent",)),
    "view_worker": (True, False, ("view_worker",)),
    "superuser": (True, True, ()),
    "staff owner": (True, False, ()),
}
COLUMNS = tuple(ROLES)
# Roles whose own objects the requests act on; everyone else acts on the owner's.
OWNS_THE_OBJECTS = frozenset({"owner", "staff owner"})

NEW_JOB = {"name": "new", "handler": "noop", "schedule_type": "interval", "interval_seconds": 60}
PAST = {"start": "{ago3h}", "end": "{ago1h}"}
# The bodies of the requests that send one, by row name.
BODIES = {
    "jobs: create": NEW_JOB,
    "jobs: create naming an owner": {**NEW_JOB, "owner": None},
    "jobs: update": {"name": "renamed", "handler": "noop"},
    "jobs: partial update": {"name": "renamed"},
    "jobs: reschedule": {"run_at": "2031-01-01T00:00:00Z"},
    "jobs: backfill": PAST,
    "own job: partial update": {"payload": {"note": "changed"}},
    "own job: backfill": PAST,
}

# Paths name the objects acted on: {job} the owner's hourly job, {paused_job}, {dead} and
# {queued} executions of {job}, {event} the audit event of {job}'s creation, {system} the
# scheduler's own job and {system_dead} a dead execution of it.
# fmt: off
# Columns, as in ROLES: owner, other, staff, add_job, view_job, change_job, delete_job,
# view+delete_job, view_execution, change_execution, view_auditevent, view_worker,
# superuser, staff owner.
MATRIX = [
    #    own oth stf add vJ  cJ  dJ  v+d vEx cEx vAu vWk su  sOw
    ("jobs: list", "get", "/api/v1/jobs",
        "in  out out out in  in  out in  out out out out in  in "),
    ("jobs: retrieve", "get", "/api/v1/jobs/{job}",
        "200 404 404 404 200 200 404 200 404 404 404 404 200 200"),
    ("jobs: create", "post", "/api/v1/jobs",
        "201 201 201 201 201 201 201 201 201 201 201 201 201 201"),
    ("jobs: create naming an owner", "post", "/api/v1/jobs",
        "400 400 400 400 400 400 400 400 400 400 400 400 400 400"),
    ("jobs: update", "put", "/api/v1/jobs/{job}",
        "200 404 404 404 403 200 404 403 404 404 404 404 200 200"),
    ("jobs: partial update", "patch", "/api/v1/jobs/{job}",
        "200 404 404 404 403 200 404 403 404 404 404 404 200 200"),
    ("jobs: delete", "delete", "/api/v1/jobs/{job}",
        "204 404 404 404 403 403 404 204 404 404 404 404 204 204"),
    ("jobs: pause", "post", "/api/v1/jobs/{job}/pause",
        "200 404 404 404 403 200 404 403 404 404 404 404 200 200"),
    ("jobs: resume", "post", "/api/v1/jobs/{paused_job}/resume",
        "200 404 404 404 403 200 404 403 404 404 404 404 200 200"),
    ("jobs: cancel", "post", "/api/v1/jobs/{job}/cancel",
        "200 404 404 404 403 200 404 403 404 404 404 404 200 200"),
    ("jobs: trigger", "post", "/api/v1/jobs/{job}/trigger",
        "202 404 404 404 403 202 404 403 404 404 404 404 202 202"),
    ("jobs: reschedule", "post", "/api/v1/jobs/{job}/reschedule",
        "200 404 404 404 403 200 404 403 404 404 404 404 200 200"),
    ("jobs: backfill", "post", "/api/v1/jobs/{job}/backfill",
        "202 404 404 404 403 202 404 403 404 404 404 404 202 202"),
    # The job must be seen; its history is listed as far as executions may be seen.
    ("jobs: executions", "get", "/api/v1/jobs/{job}/executions",
        "in  404 404 404 out out 404 out 404 404 404 404 in  in "),
    ("executions: list", "get", "/api/v1/executions?job={job}",
        "in  out out out out out out out in  in  out out in  in "),
    ("executions: retrieve", "get", "/api/v1/executions/{dead}",
        "200 404 404 404 404 404 404 404 200 200 404 404 200 200"),
    ("executions: retry", "post", "/api/v1/executions/{dead}/retry",
        "202 404 404 404 404 404 404 404 403 202 404 404 202 202"),
    ("executions: cancel", "post", "/api/v1/executions/{queued}/cancel",
        "200 404 404 404 404 404 404 404 403 200 404 404 200 200"),
    ("audit: list", "get", "/api/v1/audit?job={job}",
        "in  out out out out out out out out out in  out in  in "),
    ("audit: retrieve", "get", "/api/v1/audit/{event}",
        "200 404 404 404 404 404 404 404 404 404 200 404 200 200"),
    ("workers: list", "get", "/api/v1/workers",
        "403 403 403 403 403 403 403 403 403 403 403 200 200 403"),
    ("stats", "get", "/api/v1/stats",
        "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("handlers: list", "get", "/api/v1/handlers",
        "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("handlers: retrieve", "get", "/api/v1/handlers/noop",
        "200 200 200 200 200 200 200 200 200 200 200 200 200 200"),
    ("metrics", "get", "/metrics",
        "403 403 403 403 403 403 403 403 403 403 403 200 200 403"),
    # The scheduler's own job: seen by staff who may see jobs, changed by no one here.
    ("own job: retrieve", "get", "/api/v1/jobs/{system}",
        "404 404 404 404 200 200 404 200 404 404 404 404 200 404"),
    ("own job: partial update", "patch", "/api/v1/jobs/{system}",
        "404 404 404 404 403 403 404 403 404 404 404 404 403 404"),
    ("own job: delete", "delete", "/api/v1/jobs/{system}",
        "404 404 404 404 403 403 404 403 404 404 404 404 403 404"),
    ("own job: pause", "post", "/api/v1/jobs/{system}/pause",
        "404 404 404 404 403 403 404 403 404 404 404 404 403 404"),
    ("own job: trigger", "post", "/api/v1/jobs/{system}/trigger",
        "404 404 404 404 403 403 404 403 404 404 404 404 403 404"),
    ("own job: backfill", "post", "/api/v1/jobs/{system}/backfill",
        "404 404 404 404 403 403 404 403 404 404 404 404 403 404"),
    # Its executions are records like any other: retried as execution permissions allow.
    ("own job: retry an execution", "post", "/api/v1/executions/{system_dead}/retry",
        "404 404 404 404 404 404 404 404 403 202 404 404 202 404"),
]
# fmt: on


def cell(text: str):
    return text if text in (IN, OUT) else int(text)


CELLS = [
    pytest.param((name, method, path), role, cell(expected), id=f"{name} | {role}")
    for name, method, path, cells in MATRIX
    for role, expected in zip(COLUMNS, cells.split(), strict=True)
]


@pytest.fixture(scope="module")
def accounts(django_db_setup, django_db_blocker):
    """A user and a token for each role, made once for the module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        users = {}
        for role, (staff, superuser, codenames) in ROLES.items():
            user = get_user_model().objects.create_user(
                username=role.replace(" ", "_").replace("+", "_"),
                password="pw-matrix-123",
                is_staff=staff,
                is_superuser=superuser,
            )
            user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
            users[role] = (user, issue_secret(user, expires_in=timedelta(hours=2)))
        yield users
        transaction.set_rollback(True)


def objects_of(owner) -> dict:
    """An hourly job of `owner` with a dead and a queued execution, and a paused job."""
    definition = {"handler": "noop", "schedule_type": "interval", "interval_seconds": 3600}
    job = services.job_create(owner=owner, name="target", **definition)
    paused = services.job_pause(job=services.job_create(owner=owner, name="held", **definition))
    now = timezone.now()

    def execution(state, hours_ago):
        finished = state != ExecutionState.QUEUED
        return Execution.objects.create(
            job=job,
            scheduled_for=now - timedelta(hours=hours_ago),
            state=state,
            queue=job.queue,
            run_after=now,
            started_at=now if finished else None,
            finished_at=now if finished else None,
        )

    return {
        "job": job,
        "paused_job": paused,
        "dead": execution(ExecutionState.DEAD, 5),
        "queued": execution(ExecutionState.QUEUED, 6),
    }


def fingerprint() -> tuple:
    """Every job and execution as stored: what a refused request must leave as it was."""
    return (
        list(Job.objects.order_by("pk").values_list("pk", "name", "state", "updated_at")),
        list(Execution.objects.order_by("pk").values_list("pk", "state", "cancel_requested")),
    )


@pytest.mark.parametrize(("row", "role", "expected"), CELLS)
def test_each_role_on_each_endpoint(accounts, row, role, expected):
    name, method, path = row
    body = BODIES.get(name)
    user, secret = accounts[role]
    owner = user if role in OWNS_THE_OBJECTS else accounts["owner"][0]
    mine = objects_of(owner)
    event = AuditEvent.objects.filter(object_type="job", object_id=str(mine["job"].pk)).get()
    now = timezone.now()
    names = {
        **{name: obj.pk for name, obj in mine.items()},
        "event": event.pk,
        "ago3h": (now - timedelta(hours=3)).isoformat(),
        "ago1h": (now - timedelta(hours=1)).isoformat(),
    }
    if "{system" in path:
        system = objects_of(None)
        names.update(system=system["job"].pk, system_dead=system["dead"].pk)
    if isinstance(body, dict):
        body = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
    before = fingerprint()

    response = getattr(client_with_token(secret), method)(path.format(**names), body, format="json")

    status = 200 if expected in (IN, OUT) else expected
    assert response.status_code == status, response.content[:300]
    if expected in (IN, OUT):
        listed = {item["id"] for item in response.json()["results"]}
        target = {
            "jobs": str(mine["job"].pk),
            "executions": mine["dead"].pk,
            "audit": event.pk,
        }[_listed_kind(path)]
        assert (target in listed) == (expected == IN), listed
    if status in (403, 404):
        if path.startswith("/api/"):  # /metrics answers {"detail": ...} only
            assert response.json()["code"] == {403: "permission_denied", 404: "not_found"}[status]
        assert response.json()["detail"]
        assert fingerprint() == before


def _listed_kind(path: str) -> str:
    if path.endswith("/executions") or path.startswith("/api/v1/executions"):
        return "executions"
    return "audit" if path.startswith("/api/v1/audit") else "jobs"


def test_a_refusal_says_which_permission_or_rule(accounts):
    _, view_only = accounts["view_job"]
    job = objects_of(accounts["owner"][0])["job"]
    system = objects_of(None)["job"]
    client = client_with_token(view_only)

    others = client.patch(f"/api/v1/jobs/{job.pk}", {"name": "x"}, format="json")
    own = client_with_token(accounts["superuser"][1]).post(f"/api/v1/jobs/{system.pk}/pause")

    assert "jobs.change_job" in others.json()["detail"]
    assert "the scheduler's own jobs" in own.json()["detail"]


def test_a_job_created_through_the_api_is_always_the_callers(accounts):
    superuser, secret = accounts["superuser"]
    response = client_with_token(secret).post(
        "/api/v1/jobs",
        {"name": "x", "handler": "noop", "schedule_type": "interval", "interval_seconds": 60},
        format="json",
    )

    assert Job.objects.get(pk=response.json()["id"]).owner == superuser
    assert not Job.objects.filter(owner__isnull=True, name="x").exists()


def test_stats_count_only_what_the_user_may_see(django_user_model, make_job):
    """A staff user without permissions is an ordinary user in /stats too."""
    from tests.api.conftest import client_with_token, issue_secret

    make_job()  # alice's
    plain_staff = django_user_model.objects.create_user(
        username="plain-staff", password="pw-plain-123", is_staff=True
    )
    client = client_with_token(issue_secret(plain_staff))
    body = client.get("/api/v1/stats").json()
    assert sum(body["jobs"].values()) == 0
