"""Who may do what in the admin: its pages and actions, for every kind of account.

The same policy as the API's (tests/api/test_permission_matrix.py), through Django's test
client. Each row of MATRIX is one page or action; each column one role (ROLES). The objects
belong to "alice", an ordinary user, except in the `staff owner` column, where a staff user
without any permission acts on objects of their own, and in the rows about the scheduler's
own job (no owner), which no column owns.

A cell says what happened:
- `login`: sent to the admin's login page (not staff);
- `403` / `404`: refused with that status;
- `in` / `out`: the list page shows the object, or does not;
- `edit` / `read`: the object's page shows a form to save, or only reads;
- `done` / `refused`: the action or form took effect, or the page said no and nothing changed.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from jobs import services
from jobs.models import Execution, Job
from jobs.states import ExecutionState, JobState

pytestmark = pytest.mark.django_db

# The roles, each a column: (staff, superuser, permissions).
ROLES = {
    "user": (False, False, ()),
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

JOBS = "/admin/jobs/job/"
EXECUTIONS = "/admin/jobs/execution/"
JOB_FORM = {
    "name": "renamed",
    "handler": "noop",
    "payload": "{}",
    "schedule_type": "interval",
    "interval_seconds": "3600",
    "timezone": "UTC",
    "misfire_policy": "run_once",
    "queue": "default",
    "priority": "0",
    "max_retries": "3",
    "retry_backoff_seconds": "10",
    "notify_digest_minutes": "15",
    "_save": "Save",
}


def action(name: str, target: str) -> dict:
    return {"action": name, "_selected_action": ["{" + target + "}"]}


BACKFILL = {**action("backfill", "job"), "apply": "1", "start": "{ago3h}", "end": "{ago1h}"}

# Each row: (name, method, path, data, effect). `effect(objects)` says whether a POST took
# effect; paths and data name the objects: {job} alice's (or the staff owner's) hourly job,
# {paused} a paused one, {dead} and {queued} executions of {job}, {system} the scheduler's
# own job.
# fmt: off
# Columns, as in ROLES: user, staff, add_job, view_job, change_job, delete_job,
# view+delete_job, view_execution, change_execution, view_auditevent, view_worker,
# superuser, staff owner.
MATRIX = [
    #    usr   stf  add  vJ   cJ   dJ   v+d  vEx  cEx  vAu  vWk  su   sOw
    ("jobs: list", "get", JOBS, None, None,
        "login 403  403  in   in   403  in   403  403  403  403  in   403"),
    ("jobs: page", "get", JOBS + "{job}/change/", None, None,
        "login 403  403  read edit 403  read 403  403  403  403  edit edit"),
    ("jobs: add page", "get", JOBS + "add/", None, None,
        "login 403  edit 403  403  403  403  403  403  403  403  edit 403"),
    ("jobs: add", "post", JOBS + "add/", {**JOB_FORM, "name": "added"}, "added",
        "login 403  done 403  403  403  403  403  403  403  403  done 403"),
    ("jobs: edit", "post", JOBS + "{job}/change/", JOB_FORM, "renamed",
        "login 403  403  403  done 403  403  403  403  403  403  done done"),
    ("jobs: delete", "post", JOBS + "{job}/delete/", {"post": "yes"}, "deleted",
        "login 403  403  403  403  403  done 403  403  403  403  done done"),
    ("jobs: pause", "post", JOBS, action("pause", "job"), "paused",
        "login 403  403  refused done 403 refused 403 403 403 403 done 403"),
    ("jobs: resume", "post", JOBS, action("resume", "paused"), "resumed",
        "login 403  403  refused done 403 refused 403 403 403 403 done 403"),
    ("jobs: run now", "post", JOBS, action("run_now", "job"), "triggered",
        "login 403  403  refused done 403 refused 403 403 403 403 done 403"),
    ("jobs: cancel", "post", JOBS, action("cancel", "job"), "cancelled",
        "login 403  403  refused done 403 refused 403 403 403 403 done 403"),
    ("jobs: backfill", "post", JOBS, BACKFILL, "backfilled",
        "login 403  403  refused done 403 refused 403 403 403 403 done 403"),
    ("jobs: pause button", "post", JOBS + "{job}/do/pause/", {}, "paused",
        "login 404  404  refused done 404 refused 404 404 404 404 done refused"),
    ("executions: list", "get", EXECUTIONS, None, None,
        "login 403  403  403  403  403  403  in   in   403  403  in   403"),
    ("executions: page", "get", EXECUTIONS + "{dead}/change/", None, None,
        "login 403  403  403  403  403  403  read read 403  403  read read"),
    ("executions: retry", "post", EXECUTIONS, action("retry", "dead"), "retried",
        "login 403  403  403  403  403  403  refused done 403 403 done 403"),
    ("executions: cancel", "post", EXECUTIONS, action("cancel", "queued"), "stopped",
        "login 403  403  403  403  403  403  refused done 403 403 done 403"),
    ("workers: list", "get", "/admin/jobs/worker/", None, None,
        "login 403  403  403  403  403  403  403  403  403  200  200  403"),
    ("audit: list", "get", "/admin/jobs/auditevent/", None, None,
        "login 403  403  403  403  403  403  403  403  200  403  200  403"),
    ("dashboard", "get", "/admin/dashboard/", None, None,
        "login 403  403  403  403  403  403  403  403  403  403  200  403"),
    # The scheduler's own job: changed and deleted by superusers only.
    ("own job: page", "get", JOBS + "{system}/change/", None, None,
        "login 403  403  read read 403  read 403  403  403  403  edit 403"),
    ("own job: edit", "post", JOBS + "{system}/change/", JOB_FORM, "system renamed",
        "login 403  403  403  403  403  403  403  403  403  403  done 403"),
    ("own job: pause", "post", JOBS, action("pause", "system"), "system paused",
        "login 403  403  refused refused 403 refused 403 403 403 403 done 403"),
    ("own job: delete", "post", JOBS + "{system}/delete/", {"post": "yes"}, "system deleted",
        "login 403  403  403  403  403  403  403  403  403  403  done 403"),
]
# fmt: on

CELLS = [
    pytest.param(row, role, expected, id=f"{row[0]} | {role}")
    for *row, cells in MATRIX
    for role, expected in zip(COLUMNS, cells.split(), strict=True)
]


@pytest.fixture(scope="module")
def accounts(django_db_setup, django_db_blocker):
    """A user for each role and alice, made once for the module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        users = {}
        for role, (staff, superuser, codenames) in {
            **ROLES,
            "alice": (False, False, ()),
        }.items():
            user = get_user_model().objects.create_user(
                username=role.replace(" ", "_").replace("+", "_"),
                password="pw-matrix-123",
                is_staff=staff,
                is_superuser=superuser,
            )
            user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
            users[role] = user
        yield users
        transaction.set_rollback(True)


def objects_of(owner) -> dict:
    """An hourly job of `owner` with a dead and a queued execution, a paused job, and a job
    of the scheduler's own."""
    definition = {"handler": "noop", "schedule_type": "interval", "interval_seconds": 3600}
    job = services.job_create(owner=owner, name="target", **definition)
    paused = services.job_pause(job=services.job_create(owner=owner, name="held", **definition))
    system = services.job_create(owner=None, name="system", **definition)
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
        "paused": paused,
        "system": system,
        "dead": execution(ExecutionState.DEAD, 5),
        "queued": execution(ExecutionState.QUEUED, 6),
    }


def took_effect(effect: str, objects: dict) -> bool:
    """Whether the change a POST was for is in the database."""
    job, system = objects["job"], objects["system"]

    def state_of(obj):
        return type(obj).objects.filter(pk=obj.pk).values_list("state", flat=True).first()

    def executions():
        return Execution.objects.filter(job=job).count()

    return {
        "added": lambda: Job.objects.filter(name="added").exists(),
        "renamed": lambda: Job.objects.filter(pk=job.pk, name="renamed").exists(),
        "deleted": lambda: not Job.objects.filter(pk=job.pk).exists(),
        "paused": lambda: state_of(job) == JobState.PAUSED,
        "resumed": lambda: state_of(objects["paused"]) == JobState.ACTIVE,
        "triggered": lambda: executions() == 3,
        "cancelled": lambda: state_of(job) == JobState.CANCELLED,
        "backfilled": lambda: executions() > 2,
        "retried": lambda: Execution.objects.filter(job=job, attempt=2).exists(),
        "stopped": lambda: state_of(objects["queued"]) == ExecutionState.CANCELLED,
        "system renamed": lambda: Job.objects.filter(pk=system.pk, name="renamed").exists(),
        "system paused": lambda: state_of(system) == JobState.PAUSED,
        "system deleted": lambda: not Job.objects.filter(pk=system.pk).exists(),
    }[effect]()


def fill(text: str, names: dict) -> str:
    """Put the objects' ids in for their {names} (a payload's own braces stay)."""
    for name, value in names.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def outcome(response, effect: str | None, objects: dict) -> str:
    """Name what a response (and the database after it) shows, in the cells' words."""
    if response.status_code == 302 and response.url.startswith("/admin/login/"):
        return "login"
    if response.status_code in (403, 404):
        return str(response.status_code)
    if effect is not None:
        return "done" if took_effect(effect, objects) else "refused"
    assert response.status_code == 200, response.status_code
    page = response.content.decode()
    changelist = response.context.get("cl")
    if changelist is not None and changelist.model in (Job, Execution):
        return (
            "in" if str(objects["job"].pk) in page or f">{objects['dead'].pk}<" in page else "out"
        )
    if "adminform" in response.context and "original" in response.context:  # an object's page
        return "edit" if 'name="_save"' in page else "read"
    return "200"


@pytest.mark.parametrize(("row", "role", "expected"), CELLS)
def test_each_role_on_each_page_and_action(client, accounts, row, role, expected):
    _, method, path, data, effect = row
    user = accounts[role]
    objects = objects_of(user if role == "staff owner" else accounts["alice"])
    now = timezone.now()
    names = {
        **{name: obj.pk for name, obj in objects.items()},
        "ago3h": (now - timedelta(hours=3)).strftime("%Y-%m-%d %H:%M"),
        "ago1h": (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
    }
    client.force_login(user)
    url = fill(path, names)

    if method == "get":
        response = client.get(url)
    else:
        body = {
            key: [fill(v, names) for v in value] if isinstance(value, list) else fill(value, names)
            for key, value in data.items()
        }
        response = client.post(url, body)

    assert outcome(response, effect, objects) == expected


def test_a_staff_users_new_job_is_theirs_whatever_the_form_says(client, accounts):
    operator = accounts["add_job"]
    client.force_login(operator)

    page = client.get(JOBS + "add/").content.decode()
    client.post(JOBS + "add/", {**JOB_FORM, "name": "mine", "owner": ""})
    client.post(JOBS + "add/", {**JOB_FORM, "name": "theirs", "owner": accounts["alice"].pk})

    assert 'name="owner"' not in page
    assert Job.objects.get(name="mine").owner == operator
    assert Job.objects.get(name="theirs").owner == operator


def test_a_superuser_may_choose_the_owner_or_none(client, accounts):
    client.force_login(accounts["superuser"])

    page = client.get(JOBS + "add/").content.decode()
    client.post(JOBS + "add/", {**JOB_FORM, "name": "system", "owner": ""})
    client.post(JOBS + "add/", {**JOB_FORM, "name": "alices", "owner": accounts["alice"].pk})

    assert 'name="owner"' in page
    assert Job.objects.get(name="system").owner is None
    assert Job.objects.get(name="alices").owner == accounts["alice"]


def test_a_job_page_shows_its_executions_only_to_who_may_see_them(client, accounts):
    objects = objects_of(accounts["alice"])
    url = JOBS + f"{objects['job'].pk}/change/"

    shown = {}
    for role in ("view_job", "superuser"):
        client.force_login(accounts[role])
        shown[role] = "All executions of this job" in client.get(url).content.decode()

    assert shown == {"view_job": False, "superuser": True}


def test_an_action_names_each_job_the_operator_may_not_change(client, accounts):
    objects = objects_of(accounts["alice"])
    client.force_login(accounts["change_job"])

    response = client.post(
        JOBS,
        {"action": "pause", "_selected_action": [objects["job"].pk, objects["system"].pk]},
        follow=True,
    )

    texts = [str(m) for m in response.context["messages"]]
    assert "Paused 1: target." in texts
    assert "system was not paused: you do not have permission to change it." in texts
