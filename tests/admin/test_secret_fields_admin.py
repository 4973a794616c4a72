"""Secret payload fields in the job admin: shown masked, kept by a save that leaves the mask."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import secrets
from jobs.models import AuditEvent, Job
from jobs.services import job_create

pytestmark = pytest.mark.django_db

SECRET = "Bearer s3cret"
HOOK = "https://hooks.example.com/in"


@pytest.fixture
def hook_job(user):
    return job_create(
        owner=user,
        name="hook",
        handler="webhook",
        payload={"url": HOOK, "headers": {"Authorization": SECRET}},
        schedule_type="once",
        run_at=timezone.now() + timedelta(days=1),
        notify_on=["failure"],
        notify_webhook_url=HOOK,
        notify_webhook_secret="sh4red",
    )


def change_url(job) -> str:
    return f"/admin/jobs/job/{job.pk}/change/"


def posted(form, **overrides) -> dict:
    """What the browser posts for the form as the page showed it, with `overrides`."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None or value is False:
            continue
        if isinstance(value, list):
            value = [str(item) for item in value]
        data[name] = field.widget.format_value(value) if name == "run_at" else value
    data.update(overrides, _save="Save")
    return data


def test_the_change_page_shows_header_names_but_never_their_values(admin_client, hook_job):
    page = admin_client.get(change_url(hook_job)).content.decode()

    assert "s3cret" not in page
    assert "sh4red" not in page
    assert "Authorization" in page
    assert secrets.MASK in page


def test_saving_the_form_as_shown_keeps_the_secret(admin_client, hook_job):
    form = admin_client.get(change_url(hook_job)).context["adminform"].form

    response = admin_client.post(change_url(hook_job), posted(form, name="renamed"), follow=True)

    assert response.status_code == 200
    assert not response.context.get("errors"), response.context.get("errors")
    job = Job.objects.get(pk=hook_job.pk)
    assert job.name == "renamed"
    assert job.payload["headers"] == {"Authorization": SECRET}
    assert job.notify_webhook_secret == "sh4red"
    assert "s3cret" not in str(list(AuditEvent.objects.values_list("changes", flat=True)))


def test_a_new_value_typed_in_the_form_replaces_the_secret(admin_client, hook_job):
    form = admin_client.get(change_url(hook_job)).context["adminform"].form
    payload = f'{{"url": "{HOOK}", "headers": {{"Authorization": "Bearer n3w"}}}}'

    admin_client.post(change_url(hook_job), posted(form, payload=payload), follow=True)

    assert Job.objects.get(pk=hook_job.pk).payload["headers"] == {"Authorization": "Bearer n3w"}
    edit = AuditEvent.objects.get(action="edit")
    assert edit.changes["payload"][1]["headers"] == {"Authorization": secrets.MASK}
    assert "n3w" not in str(edit.changes)


def test_a_page_staff_may_only_read_shows_no_secret(client, make_staff, hook_job):
    client.force_login(make_staff("view_job"))

    response = client.get(change_url(hook_job))

    page = response.content.decode()
    assert response.status_code == 200
    assert "s3cret" not in page
    assert "sh4red" not in page
    assert "Authorization" in page  # the payload is there, masked
    assert "set (not shown)" in page


def test_the_list_search_does_not_find_a_job_by_its_secret(admin_client, hook_job):
    def found(term):
        return admin_client.get("/admin/jobs/job/", {"q": term}).context["cl"].result_count

    assert found("hooks.example.com") == 1  # the payload is searched...
    assert found("s3cret") == 0  # ...but not its secret fields


def test_jobsctl_show_masks_the_secret(hook_job):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("jobsctl", "show", str(hook_job.pk), stdout=out)
    assert "s3cret" not in out.getvalue()
    assert secrets.MASK in out.getvalue()
