"""/metrics: parsed with prometheus_client's own parser, figures checked against real rows."""

import itertools
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import ApiToken
from jobs import engine, services
from jobs.models import Execution, Job, Worker
from jobs.states import ExecutionState, JobState

TOKEN = "metrics-secret-for-tests"
_occurrence = itertools.count(1)


def scrape(client, **headers) -> dict:
    """GET /metrics and return {(sample name, sorted labels): value}."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def make_job(name="probe job", handler="probe", **fields):
    payload = {"mode": "succeed"} if handler == "probe" else {}
    run_at = timezone.now() + timedelta(days=1)
    return services.job_create(
        name=name, handler=handler, payload=payload, schedule_type="once", run_at=run_at, **fields
    )


def make_execution(job, state, *, took=None, finished_ago=0.0, attempt=1, **fields):
    """An execution row in `state`; finished ones ran for `took` seconds, `finished_ago` ago."""
    now = timezone.now()
    finished_at = now - timedelta(seconds=finished_ago)
    values = {"queue": job.queue, "run_after": now, "created_at": now}
    if state in (ExecutionState.RUNNING,):
        values["started_at"] = now
    if state not in (ExecutionState.QUEUED, ExecutionState.RUNNING):
        values["finished_at"] = finished_at
        values["created_at"] = finished_at - timedelta(seconds=took or 0)
        if took is not None:
            values["started_at"] = finished_at - timedelta(seconds=took)
    values.update(fields)
    return Execution.objects.create(
        job=job,
        scheduled_for=now - timedelta(seconds=next(_occurrence)),
        attempt=attempt,
        state=state,
        **values,
    )


@pytest.fixture
def token_settings(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_WINDOW_SECONDS = 300
    return settings


BEARER = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.mark.django_db
def test_metrics_figures_match_the_rows_in_the_database(client, token_settings):
    probe = make_job(queue="mail")
    other = make_job(name="noop job", handler="noop")
    services.job_pause(job=make_job(name="paused"))
    services.job_cancel(job=make_job(name="cancelled"))
    completed = make_job(name="completed")
    Job.objects.filter(pk=completed.pk).update(state=JobState.COMPLETED)

    # In the window, for the probe handler: 2 succeeded, 2 failed (one a rescue), 1 dead
    # (a retry), 1 cancelled before it started.
    make_execution(probe, ExecutionState.SUCCEEDED, took=0.2, finished_ago=10)
    make_execution(probe, ExecutionState.SUCCEEDED, took=3, finished_ago=20)
    make_execution(probe, ExecutionState.FAILED, took=0.05, error="RuntimeError: boom")
    make_execution(probe, ExecutionState.DEAD, took=12, attempt=2, error="RuntimeError: boom")
    make_execution(
        probe,
        ExecutionState.FAILED,
        took=40,
        error="Worker lost: no heartbeat for 30 s.",
        error_code="worker_lost",
    )
    make_execution(probe, ExecutionState.CANCELLED)
    # Outside the window: counted only among the dead letters.
    make_execution(probe, ExecutionState.SUCCEEDED, took=1, finished_ago=3600)
    make_execution(probe, ExecutionState.DEAD, took=1, finished_ago=7200, attempt=4)
    # Now: one due and one delayed in "mail", one running in "default".
    make_execution(probe, ExecutionState.QUEUED, run_after=timezone.now() - timedelta(seconds=30))
    make_execution(probe, ExecutionState.QUEUED, run_after=timezone.now() + timedelta(minutes=5))
    make_execution(other, ExecutionState.RUNNING)
    make_execution(other, ExecutionState.SUCCEEDED, took=0.005)

    now = timezone.now()
    Worker.objects.create(
        name="w1", hostname="h1", pid=1, queues=["default", "reports"], concurrency=4
    )
    Worker.objects.create(
        name="stale", hostname="h2", pid=2, queues=["old"], heartbeat_at=now - timedelta(hours=1)
    )
    Worker.objects.create(name="gone", hostname="h3", pid=3, queues=["old"], stopped_at=now)

    samples = scrape(client, **BEARER)

    jobs = {state: value(samples, "scheduler_jobs", state=state) for state in JobState.values}
    assert jobs == {"active": 2, "paused": 1, "completed": 1, "failed": 0, "cancelled": 1}
    assert jobs == {state: Job.objects.filter(state=state).count() for state in JobState.values}

    assert value(samples, "scheduler_queue_depth", queue="mail") == 1
    assert value(samples, "scheduler_queue_delayed", queue="mail") == 1
    assert value(samples, "scheduler_queue_running", queue="default") == 1
    assert 29 <= value(samples, "scheduler_queue_lag_seconds", queue="mail") < 60
    assert value(samples, "scheduler_queue_lag_seconds", queue="default") == 0
    # A queue a live worker serves shows up even when empty; a dead worker's does not.
    assert value(samples, "scheduler_queue_depth", queue="reports") == 0
    assert ("scheduler_queue_depth", (("queue", "old"),)) not in samples

    assert value(samples, "scheduler_workers_alive") == 1
    assert value(samples, "scheduler_worker_slots") == 4

    finished = {
        outcome: value(samples, "scheduler_executions_finished", handler="probe", outcome=outcome)
        for outcome in ("succeeded", "failed", "dead", "cancelled")
    }
    assert finished == {"succeeded": 2, "failed": 2, "dead": 1, "cancelled": 1}
    assert value(samples, "scheduler_executions_finished", handler="noop", outcome="succeeded") == 1
    assert value(samples, "scheduler_dead_letters", handler="probe") == 2
    assert value(samples, "scheduler_dead_letters", handler="noop") == 0
    assert value(samples, "scheduler_retries", handler="probe") == 1
    assert value(samples, "scheduler_rescues", handler="probe") == 1

    # Durations of the probe's five attempts that ran: 0.05, 0.2, 3, 12 and 40 seconds.
    def bucket(le):
        return value(samples, "scheduler_execution_duration_seconds_bucket", handler="probe", le=le)

    assert [bucket(le) for le in ("0.01", "0.1", "0.25", "5.0", "30.0", "60.0", "+Inf")] == [
        0,
        1,
        2,
        3,
        4,
        5,
        5,
    ]
    assert value(samples, "scheduler_execution_duration_seconds_gcount", handler="probe") == 5
    assert value(
        samples, "scheduler_execution_duration_seconds_gsum", handler="probe"
    ) == pytest.approx(55.25)
    assert value(samples, "scheduler_metrics_window_seconds") == 300


@pytest.mark.django_db(transaction=True)  # the rescue runs on a connection of its own
def test_an_engine_rescue_counts_as_a_rescue_and_queues_a_retry(client, token_settings):
    job = make_job()
    lost = Worker.objects.create(
        name="lost", hostname="h", pid=9, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    make_execution(job, ExecutionState.RUNNING, worker=lost)

    with engine.connect() as conn:
        assert engine.executions_rescue_stale(conn) == 1

    samples = scrape(client, **BEARER)
    assert value(samples, "scheduler_rescues", handler="probe") == 1
    assert value(samples, "scheduler_executions_finished", handler="probe", outcome="failed") == 1
    assert value(samples, "scheduler_retries", handler="probe") == 1
    assert value(samples, "scheduler_queue_delayed", queue="default") == 1


@pytest.mark.django_db(transaction=True)
def test_metrics_after_a_real_worker_run_count_its_outcomes(client, token_settings):
    now = timezone.now()
    for i in range(3):
        services.job_create(
            name=f"ok {i}", handler="probe", payload={"mode": "succeed"}, run_at=now
        )
    services.job_create(
        name="bad", handler="probe", payload={"mode": "fail"}, run_at=now, max_retries=0
    )

    call_command("runworker", burst=True, concurrency=2)

    samples = scrape(client, **BEARER)
    finished = Execution.objects.filter(finished_at__isnull=False)
    assert (
        value(samples, "scheduler_executions_finished", handler="probe", outcome="succeeded") == 3
    )
    assert value(samples, "scheduler_executions_finished", handler="probe", outcome="dead") == 1
    assert value(samples, "scheduler_dead_letters", handler="probe") == 1
    assert value(samples, "scheduler_jobs", state="completed") == 3
    assert value(samples, "scheduler_jobs", state="failed") == 1
    assert (
        value(samples, "scheduler_execution_duration_seconds_bucket", handler="probe", le="+Inf")
        == finished.count()
    )
    assert value(samples, "scheduler_workers_alive") == 0  # the burst worker has stopped


@pytest.mark.django_db
def test_metrics_refuse_a_request_without_credentials(client, token_settings):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer wrong-token", "Bearer ", "Basic abc"])
def test_metrics_refuse_a_wrong_token(client, token_settings, header):
    assert client.get("/metrics", HTTP_AUTHORIZATION=header).status_code == 401


@pytest.mark.django_db
def test_an_empty_metrics_token_setting_matches_no_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer  x").status_code == 401


@pytest.mark.django_db
def test_metrics_are_for_staff_sessions_not_other_users(client, user, staff_user):
    client.force_login(user)
    assert client.get("/metrics").status_code == 403
    client.force_login(staff_user)
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
def test_a_staff_api_token_reads_metrics_and_a_user_token_does_not(
    client, user, staff_user, scheme
):
    _, staff_secret = ApiToken.issue(user=staff_user)
    _, user_secret = ApiToken.issue(user=user)
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"{scheme} {staff_secret}").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"{scheme} {user_secret}").status_code == 403


@pytest.mark.django_db
def test_a_revoked_or_expired_staff_token_is_refused(client, staff_user):
    revoked, revoked_secret = ApiToken.issue(user=staff_user)
    revoked.revoked_at = timezone.now()
    revoked.save()
    _, expired_secret = ApiToken.issue(
        user=staff_user, expires_at=timezone.now() - timedelta(minutes=1)
    )
    for secret in (revoked_secret, expired_secret):
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


@pytest.mark.django_db
def test_metrics_cost_a_fixed_handful_of_queries(client, token_settings, django_assert_num_queries):
    job = make_job()
    for _ in range(20):
        make_execution(job, ExecutionState.SUCCEEDED, took=1)
    with django_assert_num_queries(7):
        client.get("/metrics", **BEARER)
