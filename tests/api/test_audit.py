"""The audit trail through the API: each change made over HTTP is one event naming the token's
user, the token and the client address; GET /api/v1/audit shows a user their own events only."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import ApiToken
from jobs import services
from jobs.models import AuditEvent, Job
from jobs.states import ExecutionState
from tests.api.conftest import client_with_token

pytestmark = pytest.mark.django_db

CLIENT_IP = "127.0.0.1"  # the test client's REMOTE_ADDR
JOB = {"name": "nightly", "handler": "noop", "schedule_type": "cron", "cron": "0 3 * * *"}


class Signed:
    """An API client holding a real token, and that token."""

    def __init__(self, user):
        self.user = user
        self.token, secret = ApiToken.issue(
            user=user, expires_at=timezone.now() + timedelta(hours=1)
        )
        self.client = client_with_token(secret)
        self.via = f"API token {self.token.prefix}"


@pytest.fixture
def ann(user):
    return Signed(user)


@pytest.fixture
def ben(other_user):
    return Signed(other_user)


@pytest.fixture
def boss(staff_user):
    return Signed(staff_user)


def mark() -> int:
    """The id of the latest event: what follows it is new."""
    return AuditEvent.objects.aggregate(last=Max("pk"))["last"] or 0


def one_event_since(since: int) -> AuditEvent:
    events = list(AuditEvent.objects.filter(pk__gt=since).order_by("pk"))
    assert len(events) == 1, [str(event) for event in events]
    return events[0]


def assert_made_by(event: AuditEvent, signed: Signed) -> None:
    assert (event.actor_id, event.actor, event.via, event.ip) == (
        signed.user.pk,
        signed.user.username,
        signed.via,
        CLIENT_IP,
    )


# --- Each audited action through the API ------------------------------------------------


def test_creating_a_job_records_who_with_which_token_and_every_field(ann):
    since = mark()
    response = ann.client.post("/api/v1/jobs", JOB)
    assert response.status_code == 201

    event = one_event_since(since)
    assert_made_by(event, ann)
    assert (event.action, event.object_type, event.object_id, event.owner_id) == (
        "create",
        "job",
        response.json()["id"],
        ann.user.pk,
    )
    assert event.changes["name"] == [None, "nightly"]
    assert event.changes["cron"] == [None, "0 3 * * *"]
    assert event.changes["state"] == [None, "active"]


PUT_BODY = {
    "name": "renamed",
    "handler": "noop",
    "schedule_type": "interval",
    "interval_seconds": 120,
}


@pytest.mark.parametrize(
    ("action", "method", "suffix", "body", "changes"),
    [
        ("edit", "patch", "", {"name": "renamed"}, {"name": ["hourly", "renamed"]}),
        (
            "edit",
            "put",
            "",
            PUT_BODY,
            {"name": ["hourly", "renamed"], "interval_seconds": [3600, 120]},
        ),
        ("pause", "post", "/pause", None, {"state": ["active", "paused"]}),
        ("resume", "post", "/resume", None, {"state": ["paused", "active"]}),
        ("cancel", "post", "/cancel", None, {"state": ["active", "cancelled"]}),
        (
            "reschedule",
            "post",
            "/reschedule",
            {"schedule_type": "cron", "cron": "*/5 * * * *"},
            {
                "schedule_type": ["interval", "cron"],
                "interval_seconds": [3600, None],
                "cron": ["", "*/5 * * * *"],
            },
        ),
    ],
    ids=["patch", "put", "pause", "resume", "cancel", "reschedule"],
)
def test_each_job_change_records_one_event_with_the_fields_it_changed(
    ann, make_job, action, method, suffix, body, changes
):
    job = make_job()
    if action == "resume":
        services.job_pause(job=job)
    since = mark()

    response = getattr(ann.client, method)(f"/api/v1/jobs/{job.pk}{suffix}", body)

    assert response.status_code == 200, response.json()
    event = one_event_since(since)
    assert_made_by(event, ann)
    assert (event.action, event.object_type, event.object_id, event.owner_id) == (
        action,
        "job",
        str(job.pk),
        ann.user.pk,
    )
    assert event.changes == changes


def test_a_change_that_is_refused_records_nothing(ann, make_job):
    job = make_job()
    since = mark()

    patch = {"schedule_type": "cron", "cron": "nonsense"}
    assert ann.client.patch(f"/api/v1/jobs/{job.pk}", patch).status_code == 400
    assert mark() == since
    services.job_cancel(job=job)
    since = mark()
    assert ann.client.post(f"/api/v1/jobs/{job.pk}/pause").status_code == 409
    assert mark() == since


def test_trigger_records_the_execution_it_queued(ann, make_job):
    job = make_job()
    since = mark()

    response = ann.client.post(f"/api/v1/jobs/{job.pk}/trigger")

    assert response.status_code == 202
    event = one_event_since(since)
    assert_made_by(event, ann)
    assert (event.action, event.object_id) == ("trigger", str(job.pk))
    assert event.changes == {"execution": [None, response.json()["id"]]}


def test_retry_and_cancel_of_executions_are_recorded_on_the_execution(
    ann, make_job, make_execution
):
    job = make_job()
    dead = make_execution(job, ExecutionState.DEAD)
    since = mark()

    response = ann.client.post(f"/api/v1/executions/{dead.pk}/retry")

    assert response.status_code == 202
    retried = one_event_since(since)
    assert_made_by(retried, ann)
    assert (retried.action, retried.object_type, retried.object_id, retried.owner_id) == (
        "retry",
        "execution",
        str(dead.pk),
        ann.user.pk,
    )
    assert retried.changes == {"retry": [None, response.json()["id"]]}

    since = mark()
    assert ann.client.post(f"/api/v1/executions/{response.json()['id']}/cancel").status_code == 200
    cancelled = one_event_since(since)
    assert_made_by(cancelled, ann)
    assert (cancelled.action, cancelled.object_id) == ("cancel", str(response.json()["id"]))
    assert cancelled.changes == {"state": ["queued", "cancelled"]}


def test_delete_records_what_the_job_was(ann, make_job):
    job = make_job()
    since = mark()

    assert ann.client.delete(f"/api/v1/jobs/{job.pk}").status_code == 204

    event = one_event_since(since)
    assert_made_by(event, ann)
    assert (event.action, event.object_id, event.owner_id) == ("delete", str(job.pk), ann.user.pk)
    assert event.changes["name"] == ["hourly", None]
    assert event.changes["interval_seconds"] == [3600, None]


# --- Tokens -------------------------------------------------------------------------------


def test_logging_in_records_the_token_created_for_the_user(anon, user):
    since = mark()

    response = anon.post(
        "/api/v1/auth/token", {"username": "alice", "password": "pw-alice-123", "name": "ci"}
    )

    assert response.status_code == 200
    event = one_event_since(since)
    # The request carried no token: the user is the one who signed in, from this address.
    assert (event.actor_id, event.actor, event.via, event.ip) == (
        user.pk,
        "alice",
        "API sign-in",
        CLIENT_IP,
    )
    prefix = response.json()["token"][:8]
    assert (event.action, event.object_type, event.object_id, event.owner_id) == (
        "token_created",
        "token",
        prefix,
        user.pk,
    )
    assert event.changes["name"] == [None, "ci"]
    assert response.json()["token"] not in str(event.changes)


def test_a_failed_log_in_records_nothing(anon, user):
    since = mark()
    response = anon.post("/api/v1/auth/token", {"username": "alice", "password": "wrong"})
    assert response.status_code == 400
    assert mark() == since


def test_registering_records_the_new_users_first_token(anon, django_user_model, settings):
    settings.ALLOW_REGISTRATION = True  # off by default
    since = mark()

    response = anon.post(
        "/api/v1/auth/register",
        {"username": "carol", "email": "carol@example.com", "password": "a long pass phrase"},
    )

    assert response.status_code == 201
    carol = django_user_model.objects.get(username="carol")
    event = one_event_since(since)
    assert (event.actor_id, event.actor, event.via) == (carol.pk, "carol", "API sign-in")
    assert (event.action, event.object_id) == ("token_created", response.json()["token"][:8])


def test_logging_out_records_the_revoke_of_the_token_used(ann):
    since = mark()

    assert ann.client.post("/api/v1/auth/logout").status_code == 204

    event = one_event_since(since)
    assert_made_by(event, ann)
    assert (event.action, event.object_type, event.object_id, event.owner_id) == (
        "token_revoked",
        "token",
        ann.token.prefix,
        ann.user.pk,
    )
    assert list(event.changes) == ["revoked_at"]
    ann.token.refresh_from_db()
    recorded = parse_datetime(event.changes["revoked_at"][1])  # JSON keeps milliseconds
    assert abs(recorded - ann.token.revoked_at) < timedelta(milliseconds=1)


def test_deleting_a_token_records_one_revoke_however_often_it_is_asked(ann, user):
    other, _ = ApiToken.issue(user=user, name="laptop")
    since = mark()

    assert ann.client.delete(f"/api/v1/auth/tokens/{other.pk}").status_code == 204
    ann.client.delete(f"/api/v1/auth/tokens/{other.pk}")  # again: already revoked

    event = one_event_since(since)
    assert_made_by(event, ann)  # revoked with ann's current token, not the one revoked
    assert (event.action, event.object_id) == ("token_revoked", other.prefix)


# --- GET /api/v1/audit --------------------------------------------------------------------


@pytest.fixture
def trail(ann, ben, make_job):
    """Ann and Ben each create a job and pause it over the API."""
    jobs = {}
    for signed in (ann, ben):
        job_id = signed.client.post("/api/v1/jobs", JOB).json()["id"]
        assert signed.client.post(f"/api/v1/jobs/{job_id}/pause").status_code == 200
        jobs[signed.user.username] = job_id
    return jobs


def listed(signed, query=""):
    response = signed.client.get(f"/api/v1/audit{query}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_user_lists_only_the_events_about_their_own_jobs_and_tokens(ann, trail):
    body = listed(ann)
    events = body["results"]
    assert {"count", "next", "previous", "results"} <= set(body)
    assert body["count"] == len(events) == AuditEvent.objects.filter(owner_id=ann.user.pk).count()
    assert {event["owner_id"] for event in events} == {ann.user.pk}
    assert trail["bob"] not in {event["object_id"] for event in events}
    # Newest first, with the fields a reader needs.
    pause, create = events[0], events[1]
    assert (pause["action"], create["action"]) == ("pause", "create")
    assert pause["object_id"] == trail["alice"]
    assert pause["changes"] == {"state": ["active", "paused"]}
    assert (pause["actor"], pause["actor_id"], pause["via"], pause["ip"]) == (
        "alice",
        ann.user.pk,
        ann.via,
        CLIENT_IP,
    )
    assert set(pause) == {
        "id",
        "created_at",
        "actor",
        "actor_id",
        "via",
        "ip",
        "action",
        "object_type",
        "object_id",
        "owner_id",
        "changes",
    }


def test_another_users_event_is_a_404_and_ones_own_is_shown(ann, ben, trail):
    bens = AuditEvent.objects.filter(owner_id=ben.user.pk, action="pause").get()
    anns = AuditEvent.objects.filter(owner_id=ann.user.pk, action="pause").get()

    response = ann.client.get(f"/api/v1/audit/{bens.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    shown = ann.client.get(f"/api/v1/audit/{anns.pk}")
    assert shown.status_code == 200
    assert shown.json()["id"] == anns.pk


def test_staff_see_every_event(boss, ann, trail):
    body = listed(boss, "?page_size=500")
    assert body["count"] == AuditEvent.objects.count()
    assert {trail["alice"], trail["bob"]} <= {event["object_id"] for event in body["results"]}
    bens = AuditEvent.objects.filter(object_id=trail["bob"], action="pause").get()
    assert boss.client.get(f"/api/v1/audit/{bens.pk}").status_code == 200


def test_the_list_filters_by_job_action_actor_and_time(ann, boss, trail, make_execution):
    job_id = trail["alice"]
    dead = make_execution(Job.objects.get(pk=job_id), ExecutionState.DEAD)
    assert ann.client.post(f"/api/v1/executions/{dead.pk}/retry").status_code == 202

    by_job = listed(ann, f"?job={job_id}")["results"]
    assert [event["action"] for event in by_job] == ["retry", "pause", "create"]
    assert by_job[0]["object_id"] == str(dead.pk)  # the job's executions' events too

    pauses = listed(boss, "?action=pause")["results"]
    assert {event["object_id"] for event in pauses} == set(trail.values())
    both = listed(boss, "?action=pause&action=retry")["results"]
    assert {event["action"] for event in both} == {"pause", "retry"}

    assert {event["actor"] for event in listed(boss, "?actor=bob")["results"]} == {"bob"}
    tokens = listed(ann, "?object_type=token")["results"]
    assert {event["action"] for event in tokens} == {"token_created"}

    created = AuditEvent.objects.get(object_id=job_id, action="create").created_at
    after = (created + timedelta(microseconds=1)).isoformat()
    later = listed(ann, f"?job={job_id}&created_after={after.replace('+', '%2B')}")["results"]
    assert [event["action"] for event in later] == ["retry", "pause"]
    before = created.isoformat().replace("+", "%2B")
    assert listed(ann, f"?job={job_id}&created_before={before}")["count"] == 0


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("?action=explode", "action"),
        ("?job=not-a-uuid", "job"),
        ("?object_type=user", "object_type"),
        ("?created_after=2030-01-01T09:00:00", "created_after"),
        ("?actor=alice&actor=bob", "actor"),
        ("?owner=1", "owner"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(ann, query, name):
    response = ann.client.get(f"/api/v1/audit{query}")
    assert response.status_code == 400
    assert name in response.json()["errors"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/audit"),
        ("put", "/api/v1/audit/{id}"),
        ("patch", "/api/v1/audit/{id}"),
        ("delete", "/api/v1/audit/{id}"),
    ],
)
def test_the_trail_cannot_be_written_through_the_api(boss, trail, method, path):
    event = AuditEvent.objects.filter(action="pause").first()
    before = (AuditEvent.objects.count(), event.actor, event.changes)

    response = getattr(boss.client, method)(path.format(id=event.pk), {"actor": "mallory"})

    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "method_not_allowed"
    event.refresh_from_db()
    assert (AuditEvent.objects.count(), event.actor, event.changes) == before


def test_the_trail_needs_a_token(anon):
    response = anon.get("/api/v1/audit")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- What an owner is shown of others who acted on their objects --------------------------


@pytest.fixture
def auditor(django_user_model):
    """Staff (not a superuser) who may read the whole trail, and nothing else."""
    user = django_user_model.objects.create_user(
        username="auditor", password="pw-auditor-123", is_staff=True
    )
    user.user_permissions.set(Permission.objects.filter(codename="view_auditevent"))
    return Signed(user)


def test_the_owner_sees_staff_as_the_actor_of_a_staff_change_without_token_or_address(
    ann, boss, auditor, trail
):
    job_id = trail["alice"]
    assert boss.client.post(f"/api/v1/jobs/{job_id}/resume").status_code == 200
    resumed = AuditEvent.objects.get(object_id=job_id, action="resume")
    assert_made_by(resumed, boss)  # the trail itself keeps who, how and from where

    shown = ann.client.get(f"/api/v1/audit/{resumed.pk}").json()
    own = listed(ann, f"?job={job_id}&action=pause")["results"][0]

    assert (shown["actor"], shown["actor_id"], shown["via"], shown["ip"]) == (
        "staff",
        None,
        "API token",
        None,
    )
    assert boss.user.username not in str(shown) and boss.token.prefix not in str(shown)
    assert (own["actor"], own["via"], own["ip"]) == ("alice", ann.via, CLIENT_IP)
    for reader in (boss, auditor):
        full = reader.client.get(f"/api/v1/audit/{resumed.pk}").json()
        assert (full["actor"], full["actor_id"], full["via"], full["ip"]) == (
            "root",
            boss.user.pk,
            boss.via,
            CLIENT_IP,
        )


def test_the_owner_sees_staff_for_a_change_made_in_the_admin(ann, client, staff_user, trail):
    job_id = trail["alice"]
    client.force_login(staff_user)
    client.post("/admin/jobs/job/", {"action": "resume", "_selected_action": [job_id]})
    resumed = AuditEvent.objects.get(object_id=job_id, action="resume")
    assert (resumed.actor, resumed.via) == ("root", "admin session")

    shown = ann.client.get(f"/api/v1/audit/{resumed.pk}").json()

    assert (shown["actor"], shown["actor_id"], shown["via"], shown["ip"]) == (
        "staff",
        None,
        "admin session",
        None,
    )


def test_the_owners_actor_filter_matches_what_they_are_shown(ann, boss, trail):
    job_id = trail["alice"]
    boss.client.post(f"/api/v1/jobs/{job_id}/resume")

    by_staff = listed(ann, "?actor=staff")["results"]
    by_name = listed(ann, "?actor=root")

    assert [event["action"] for event in by_staff] == ["resume"]
    assert by_name["count"] == 0
    assert {e["action"] for e in listed(ann, "?actor=alice")["results"]} >= {"create", "pause"}
    assert listed(boss, "?actor=root")["results"][0]["action"] == "resume"


def test_system_events_are_shown_to_the_owner_as_they_are(ann, trail):
    job = Job.objects.get(pk=trail["alice"])
    services.job_resume(job=job)  # outside any request: the system acts

    shown = listed(ann, "?actor=system&object_type=job")["results"]

    assert [(e["actor"], e["via"], e["action"]) for e in shown] == [("system", "system", "resume")]
