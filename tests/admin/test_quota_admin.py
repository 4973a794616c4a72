"""The admin holds an ordinary user's job to their quotas: a form error naming the field."""

import pytest
from django.urls import reverse

from jobs.models import AuditEvent, Job

pytestmark = pytest.mark.django_db


def test_editing_an_ordinary_users_job_past_a_quota_is_a_form_error(admin_client, make_job):
    job = make_job()  # alice's, hourly
    url = reverse("admin:jobs_job_change", args=[job.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        {
            "name": job.name,
            "handler": "noop",
            "payload": "{}",
            "schedule_type": "interval",
            "interval_seconds": "3600",
            "timezone": "UTC",
            "queue": "default",
            "priority": "500",
            "max_retries": "3",
            "retry_backoff_seconds": "10",
            "misfire_policy": "run_once",
            "notify_digest_minutes": "15",
        }
    )
    response = admin_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "QUOTA_MAX_PRIORITY" in " ".join(errors["priority"])
    assert Job.objects.get(pk=job.pk).priority == 0
    assert not AuditEvent.objects.filter(action="edit").exists()
