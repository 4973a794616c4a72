"""The read-only fields of a job's admin page: its next runs, its payload with secrets
masked, whether a webhook secret is set, and its recent attempts."""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from jobs import schedules, secrets
from jobs.models import Execution
from web.display import badge, duration_text

RECENT_EXECUTIONS = 10  # attempts shown on a job's page; the rest are one link away


class JobPageFields:
    """Display fields for JobAdmin's detail page (listed in its readonly fields)."""

    @admin.display(description=f"next {schedules.UPCOMING_RUNS} runs")
    def upcoming(self, job):
        runs = schedules.upcoming_runs(job, now=timezone.now())
        if not runs:
            return "— (only active jobs run)"
        return format_html_join(
            "", "<div>{} UTC</div>", ((f"{run:%Y-%m-%d %H:%M:%S}",) for run in runs)
        )

    @admin.display(description="payload")
    def masked_payload(self, job):
        text = json.dumps(secrets.masked(job.handler, job.payload), indent=2, ensure_ascii=False)
        return format_html('<pre class="sched-pre">{}</pre>', text)

    @admin.display(description="notify webhook secret")
    def webhook_secret_set(self, job):
        return "set (not shown)" if job.notify_webhook_secret else "—"

    @admin.display(description="recent executions")
    def recent_executions(self, job):
        rows = (
            Execution.objects.filter(job=job)
            .select_related("worker")
            .order_by("-scheduled_for", "-attempt")[:RECENT_EXECUTIONS]
        )
        body = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td class='sched-error'>{}</td></tr>",
            (
                (
                    reverse("admin:jobs_execution_change", args=[e.pk]),
                    e.pk,
                    f"{e.scheduled_for:%Y-%m-%d %H:%M:%S}",
                    e.attempt,
                    badge(e.state),
                    e.worker or "—",
                    duration_text(e.duration),
                    (e.error.splitlines() or [""])[0][:200],
                )
                for e in rows
            ),
        )
        if not body:
            return "None yet."
        everything = reverse("admin:jobs_execution_changelist") + f"?job__id__exact={job.pk}"
        return format_html(
            "<table class='sched-inline'><thead><tr><th>id</th><th>scheduled for</th>"
            "<th>attempt</th><th>state</th><th>worker</th><th>duration</th><th>error</th>"
            "</tr></thead><tbody>{}</tbody></table><p><a href='{}'>All executions of this "
            "job</a></p>",
            body,
            everything,
        )
