"""The job admin through Django's test client: list, form, actions, permissions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import AuditEvent, Execution, Job
from jobs.states import ExecutionState, JobState
from tests.admin.conftest import messages_of
from tests.admin.conftest import run_action as shared_run_action

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/jobs/job/add/"
LIST_URL = "/admin/jobs/job/"


def change_url(job) -> str:
    return f"/admin/jobs/job/{job.pk}/change/"


def form_data(**overrides) -> dict:
    """What the add form posts for a valid cron job."""
    data = {
        "name": "nightly",
        "handler": "noop",
        "payload": "{}",
        "schedule_type": "cron",
        "cron": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "misfire_policy": "run_once",
        "queue": "default",
        "priority": "0",
        "max_retries": "3",
        "retry_backoff_seconds": "10",
        "notify_digest_minutes": "15",
        "_save": "Save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def run_action(client, action: str, *jobs):
    return shared_run_action(client, LIST_URL, action, *jobs)


# --- The list ---------------------------------------------------------------------------


def test_the_list_shows_the_schedule_in_words_and_the_last_outcome(
    admin_client, make_job, make_execution
):
    job = make_job(
        schedule_type="cron", interval_seconds=None, cron="30 2 * * *", timezone="Europe/Berlin"
    )
    make_execution(job, ExecutionState.DEAD)

    page = admin_client.get(LIST_URL).content.decode()

    assert "At 02:30, every day (Europe/Berlin)" in page
    assert 'class="sched-badge sched-dead"' in page


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ("state__exact=paused", "resting", "hourly"),
        ("handler=sleep", "resting", "hourly"),
        ("schedule_type__exact=once", "resting", "hourly"),
        ("queue__exact=slow", "resting", "hourly"),
        ("q=seconds", "resting", "hourly"),  # words of the payload
    ],
)
def test_filters_and_search_narrow_the_list(admin_client, make_job, settings, query, shown, hidden):
    from jobs.services import job_pause

    settings.QUOTA_QUEUES = ["default", "slow"]  # alice's jobs use both

    make_job()
    resting = make_job(
        name="resting",
        handler="sleep",
        payload={"seconds": 1},
        schedule_type="once",
        interval_seconds=None,
        run_at=timezone.now() + timedelta(days=1),
        queue="slow",
    )
    job_pause(job=resting)

    page = admin_client.get(f"{LIST_URL}?{query}").content.decode()

    assert f">{shown}</a>" in page
    assert f">{hidden}</a>" not in page


def test_the_list_costs_the_same_queries_for_many_jobs(
    admin_client, make_job, django_assert_max_num_queries
):
    for i in range(30):
        make_job(name=f"job {i}")

    with django_assert_max_num_queries(12):
        assert admin_client.get(LIST_URL).status_code == 200


# --- The form ---------------------------------------------------------------------------


def test_a_cron_job_made_in_the_form_is_scheduled_and_audited(admin_client, staff_user):
    response = admin_client.post(ADD_URL, form_data(owner=str(staff_user.pk)), follow=True)

    assert response.status_code == 200
    job = Job.objects.get()
    assert (job.owner, job.cron, job.timezone, job.state) == (
        staff_user,
        "30 2 * * *",
        "Europe/Berlin",
        JobState.ACTIVE,
    )
    assert job.next_run_at > timezone.now()
    event = AuditEvent.objects.get(action="create")
    assert (event.actor, event.via) == ("root", "admin session")


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"cron": "61 * * * *"}, "cron", "cron"),
        ({"cron": ""}, "cron", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"schedule_type": "once", "cron": None}, "run_at", ""),
        ({"schedule_type": "interval", "interval_seconds": "0"}, "interval_seconds", "1"),
        ({"handler": "sleep", "payload": '{"seconds": "soon"}'}, "payload", "seconds"),
        ({"payload": "[1, 2]"}, "payload", "object"),
        ({"payload": "{not json"}, "payload", "JSON"),
        ({"payload": "[" * 5000 + "]" * 5000}, "payload", "deep"),
        ({"handler": "notification"}, "handler", ""),
        ({"name": "  "}, "name", ""),
    ],
)
def test_an_invalid_job_is_a_form_error_and_nothing_is_saved(admin_client, overrides, field, words):
    response = admin_client.post(ADD_URL, form_data(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert words.lower() in " ".join(errors[field]).lower()
    assert not Job.objects.exists()
    assert not AuditEvent.objects.exists()


def test_editing_the_schedule_recomputes_the_next_run(admin_client, make_job):
    job = make_job()
    before = job.next_run_at

    response = admin_client.post(
        change_url(job),
        form_data(name="hourly", schedule_type="interval", interval_seconds="60", cron=None),
        follow=True,
    )

    assert response.status_code == 200
    job.refresh_from_db()
    assert job.interval_seconds == 60
    assert job.next_run_at < before
    event = AuditEvent.objects.get(action="edit")
    assert event.changes["interval_seconds"] == [3600, 60]


def test_the_detail_page_shows_the_next_five_runs_and_recent_executions(
    admin_client, make_job, make_execution
):
    job = make_job()
    make_execution(job, ExecutionState.FAILED, error="ValueError: first try")

    page = admin_client.get(change_url(job)).content.decode()
    upcoming = page.split("field-upcoming")[1].split("</div>\n")[0]

    assert upcoming.count(" UTC</div>") == 5
    assert "ValueError: first try" in page
    assert f"?job__id__exact={job.pk}" in page


def test_a_cancelled_job_is_read_only(admin_client, make_job):
    from jobs.services import job_cancel

    job = job_cancel(job=make_job())

    page = admin_client.get(change_url(job)).content.decode()
    response = admin_client.post(change_url(job), form_data(name="renamed"))

    assert 'name="_save"' not in page
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.name == "hourly"


def test_deleting_a_job_goes_through_the_services(admin_client, make_job, make_execution):
    job = make_job()
    for attempt in (1, 2, 3):
        make_execution(job, ExecutionState.FAILED, attempt=attempt)

    confirm = admin_client.get(f"/admin/jobs/job/{job.pk}/delete/").content.decode()
    admin_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})

    assert "3 execution(s): their whole attempt history" in confirm
    assert not Job.objects.exists() and not Execution.objects.exists()
    assert AuditEvent.objects.filter(action="delete", object_id=str(job.pk)).count() == 1


# --- Actions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "start", "end"),
    [
        ("pause", JobState.ACTIVE, JobState.PAUSED),
        ("resume", JobState.PAUSED, JobState.ACTIVE),
        ("cancel", JobState.ACTIVE, JobState.CANCELLED),
        ("cancel", JobState.PAUSED, JobState.CANCELLED),
    ],
)
def test_an_allowed_action_changes_the_state_and_says_so(
    admin_client, make_job, action, start, end
):
    from jobs.services import job_pause

    job = make_job()
    if start == JobState.PAUSED:
        job_pause(job=job)

    response = run_action(admin_client, action, job)

    job.refresh_from_db()
    assert job.state == end
    assert any(m.startswith(f"{action.capitalize()}") for m in messages_of(response))
    assert AuditEvent.objects.filter(action=action, via="admin session").count() == 1


@pytest.mark.parametrize(
    ("action", "start"),
    [
        ("pause", JobState.PAUSED),
        ("resume", JobState.ACTIVE),
        ("cancel", JobState.CANCELLED),
        ("run_now", JobState.CANCELLED),
    ],
)
def test_a_forbidden_action_is_a_message_and_changes_nothing(admin_client, make_job, action, start):
    from jobs.services import job_cancel, job_pause

    job = make_job()
    if start == JobState.PAUSED:
        job_pause(job=job)
    elif start == JobState.CANCELLED:
        job_cancel(job=job)
    events = AuditEvent.objects.count()

    response = run_action(admin_client, action, job)

    assert response.status_code == 200
    job.refresh_from_db()
    assert job.state == start
    assert any("hourly was not" in m for m in messages_of(response))
    assert AuditEvent.objects.count() == events


def test_run_now_queues_an_execution_and_names_it(admin_client, make_job):
    job = make_job()

    response = run_action(admin_client, "run_now", job)

    execution = Execution.objects.get(job=job)
    assert execution.state == ExecutionState.QUEUED
    assert f"hourly (execution {execution.pk})" in " ".join(messages_of(response))


def test_one_refused_job_does_not_undo_the_others(admin_client, make_job):
    from jobs.services import job_pause

    active, paused = make_job(name="a"), make_job(name="b")
    job_pause(job=paused)

    response = run_action(admin_client, "pause", active, paused)

    active.refresh_from_db()
    assert active.state == JobState.PAUSED
    texts = " ".join(messages_of(response))
    assert "Paused 1: a." in texts and "b was not paused" in texts


def test_the_buttons_on_the_detail_page_run_the_same_actions(admin_client, make_job):
    job = make_job()

    page = admin_client.get(change_url(job)).content.decode()
    response = admin_client.post(f"/admin/jobs/job/{job.pk}/do/pause/", follow=True)

    assert 'value="pause"' in page and 'value="resume"' not in page
    job.refresh_from_db()
    assert job.state == JobState.PAUSED
    assert response.redirect_chain[-1][0] == change_url(job)


def test_a_button_url_only_takes_post_and_known_actions(admin_client, make_job):
    job = make_job()

    assert admin_client.get(f"/admin/jobs/job/{job.pk}/do/pause/").status_code == 405
    response = admin_client.post(f"/admin/jobs/job/{job.pk}/do/delete_selected/")
    assert response.status_code == 302
    assert Job.objects.filter(pk=job.pk).exists()
    missing = "/admin/jobs/job/00000000-0000-0000-0000-000000000000/do/pause/"
    assert admin_client.post(missing).status_code == 404


# --- Permissions ------------------------------------------------------------------------


def test_people_who_are_not_staff_cannot_reach_the_admin(client, user):
    client.force_login(user)

    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_staff_who_may_only_view_get_no_actions_and_no_form(client, make_staff, make_job):
    job = make_job()
    client.force_login(make_staff("view_job"))

    page = client.get(LIST_URL).content.decode()
    detail = client.get(change_url(job)).content.decode()
    response = run_action(client, "pause", job)
    button = client.post(f"/admin/jobs/job/{job.pk}/do/pause/", follow=True)

    assert "hourly" in page and 'name="action"' not in page
    assert 'value="pause"' not in detail
    assert response.status_code == 200
    assert "You do not have permission to do that." in " ".join(messages_of(button))
    job.refresh_from_db()
    assert job.state == JobState.ACTIVE


def test_staff_without_the_view_permission_are_refused(client, make_staff, make_job):
    job = make_job()
    client.force_login(make_staff())

    assert client.get(LIST_URL).status_code == 403
    assert client.get(change_url(job)).status_code == 403


def test_a_skipped_wall_time_typed_in_the_form_means_the_dst_change(admin_client, staff_user):
    # 02:30 does not exist in Berlin on 2031-03-30: the clocks go from 02:00 to 03:00 CEST.
    admin_client.post(
        ADD_URL,
        form_data(
            owner=str(staff_user.pk),
            schedule_type="once",
            cron=None,
            run_at="2031-03-30T02:30:00",
        ),
    )

    job = Job.objects.get()
    assert job.run_at.isoformat() == "2031-03-30T01:00:00+00:00"


def test_a_save_refused_after_validation_is_not_logged_as_a_change(
    admin_client, make_job, monkeypatch
):
    from django.contrib.admin.models import LogEntry

    from jobs import services
    from jobs.exceptions import InvalidTransition

    job = make_job()

    def cancelled_meanwhile(**kwargs):
        raise InvalidTransition(obj="job", state="cancelled", action="edit")

    monkeypatch.setattr(services, "job_update", cancelled_meanwhile)
    response = admin_client.post(change_url(job), form_data(name="renamed"), follow=True)

    assert "Not saved: Cannot edit a job that is cancelled." in messages_of(response)
    assert not any("successfully" in m for m in messages_of(response))
    assert not LogEntry.objects.exists()
