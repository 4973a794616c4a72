"""The audit trail: one event per change, with its actor and diff, and no way to rewrite it."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from jobs import audit, policy, services
from jobs.models import AuditEvent, Execution
from jobs.states import ExecutionState

pytestmark = pytest.mark.django_db


@pytest.fixture
def acting(user):
    with audit.acting_as(audit.Actor(user.pk, user.username, "command line", "10.0.0.1")) as actor:
        yield actor


def make_job(owner):
    return services.job_create(
        owner=owner,
        name="nightly",
        handler="noop",
        schedule_type="cron",
        cron="0 3 * * *",
        notify_webhook_secret="s3cret",
    )


def events(action):
    return list(AuditEvent.objects.filter(action=action))


def test_create_records_who_from_where_and_every_field(user, acting):
    job = make_job(user)
    [event] = events("create")
    assert (event.actor_id, event.actor, event.via, event.ip) == (
        user.pk,
        "alice",
        "command line",
        "10.0.0.1",
    )
    assert (event.object_type, event.object_id, event.owner_id) == ("job", str(job.pk), user.pk)
    assert event.changes["cron"] == [None, "0 3 * * *"]
    assert event.changes["notify_webhook_secret"] == [None, audit.MASK]  # never the secret


def test_edit_records_only_the_fields_that_changed(user, acting):
    job = make_job(user)
    services.job_update(job=job, name="renamed", cron="0 3 * * *")
    [event] = events("edit")
    assert event.changes == {"name": ["nightly", "renamed"]}


def test_edit_that_changes_nothing_records_nothing(user, acting):
    job = make_job(user)
    services.job_update(job=job, name="nightly")
    assert events("edit") == []


@pytest.mark.parametrize(
    ("action", "call", "change"),
    [
        ("pause", lambda job: services.job_pause(job=job), {"state": ["active", "paused"]}),
        ("cancel", lambda job: services.job_cancel(job=job), {"state": ["active", "cancelled"]}),
        (
            "reschedule",
            lambda job: services.job_reschedule(job=job, cron="0 4 * * *", schedule_type="cron"),
            {"cron": ["0 3 * * *", "0 4 * * *"]},
        ),
    ],
)
def test_each_state_change_records_one_event(user, acting, action, call, change):
    job = make_job(user)
    call(job)
    [event] = events(action)
    assert event.changes == change
    assert AuditEvent.objects.count() == 2  # create + this


def test_resume_trigger_retry_cancel_and_delete_are_recorded(user, acting):
    job = make_job(user)
    services.job_pause(job=job)
    services.job_resume(job=job)
    execution = services.job_trigger(job=job)
    services.execution_cancel(execution=execution)
    execution.refresh_from_db()
    services.execution_retry(execution=execution)
    job_id = job.pk
    services.job_delete(job=job)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["create", "pause", "resume", "trigger", "cancel", "retry", "delete"]
    delete = events("delete")[0]
    assert delete.object_id == str(job_id) and delete.changes["name"] == ["nightly", None]
    assert not Execution.objects.filter(job_id=job_id).exists()


def test_forbidden_change_records_nothing(user, acting):
    job = make_job(user)
    services.job_cancel(job=job)
    with pytest.raises(Exception, match="Cannot pause"):
        services.job_pause(job=job)
    assert events("pause") == []


def test_changes_made_outside_a_request_are_the_systems(user):
    make_job(user)
    [event] = events("create")
    assert (event.actor, event.via, event.actor_id) == ("system", "system", None)


def test_users_see_only_events_about_their_own_jobs(user, other_user, staff_user, acting):
    make_job(user)
    make_job(other_user)
    assert policy.audit_events_for(user).count() == 1
    assert policy.audit_events_for(other_user).count() == 1
    assert policy.audit_events_for(staff_user).count() == 2


def test_the_trail_is_append_only_even_in_sql(user, acting):
    make_job(user)
    event = AuditEvent.objects.get()
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    for sql in ("UPDATE jobs_auditevent SET actor = 'mallory'", "DELETE FROM jobs_auditevent"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditEvent.objects.get().actor == "alice"


def test_executions_changed_by_the_engine_are_not_audited(user):
    job = make_job(user)
    services.job_trigger(job=job)
    Execution.objects.update(state=ExecutionState.RUNNING, started_at=timezone.now())
    assert set(AuditEvent.objects.values_list("action", flat=True)) == {"create", "trigger"}


def test_tokens_created_and_revoked_are_recorded_without_their_secret(user, acting):
    from accounts.models import ApiToken

    token, secret = ApiToken.issue(user=user, name="ci")
    assert token.revoke() is True
    assert token.revoke() is False  # once only
    created, revoked = AuditEvent.objects.order_by("id")
    assert (created.action, created.object_id, created.owner_id) == (
        "token_created",
        token.prefix,
        user.pk,
    )
    assert revoked.action == "token_revoked"
    assert secret not in str(created.changes) + str(revoked.changes)
    assert AuditEvent.objects.count() == 2


def test_the_audit_middleware_is_installed_after_authentication(settings):
    middleware = settings.MIDDLEWARE
    assert middleware.index("jobs.audit.AuditContextMiddleware") > middleware.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )


@pytest.mark.parametrize(
    ("path", "via"), [("/admin/jobs/job/add/", "admin session"), ("/elsewhere", "web session")]
)
def test_a_change_made_while_serving_a_request_is_the_signed_in_users(rf, user, path, via):
    request = rf.post(path, REMOTE_ADDR="10.1.2.3")
    request.user = user
    audit.AuditContextMiddleware(lambda request: make_job(request.user))(request)
    [event] = events("create")
    assert (event.actor_id, event.actor, event.via, event.ip) == (user.pk, "alice", via, "10.1.2.3")
    # The request is forgotten once answered: later changes are the system's again.
    assert audit.current_actor() == audit.SYSTEM


def test_the_token_a_request_was_authenticated_with_names_where_it_came_from(rf, user):
    from accounts.models import ApiToken

    token, _ = ApiToken.issue(user=user)
    request = rf.post("/api/v1/jobs")
    # What DRF does on authenticating: the user and the token land on the Django request.
    request.user, request.auth = user, token
    audit.AuditContextMiddleware(lambda request: make_job(request.user))(request)
    [event] = events("create")
    assert (event.actor, event.via, event.ip) == ("alice", f"API token {token.prefix}", "127.0.0.1")


def test_an_explicit_actor_wins_over_the_request(rf, user, acting):
    request = rf.post("/api/v1/auth/token")
    request.user = user
    audit.AuditContextMiddleware(lambda request: make_job(request.user))(request)
    [event] = events("create")
    assert (event.via, event.ip) == ("command line", "10.0.0.1")
