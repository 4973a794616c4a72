"""The read-only fields of a job's admin page: its next runs, its payload with secrets
masked, whether a webhook secret is set, the queue and workflow it belongs to, and its
recent attempts as a strip of outcomes, a duration chart and a table.

The page follows a scheduled job as it runs: jobs/static/jobs/live_fields.js refreshes
LIVE_FIELDS every few seconds, without touching the form.
"""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from jobs import schedules, secrets
from jobs.models import Execution, WorkflowStep
from jobs.selectors.job_runs import RECENT_RUNS, recent_runs
from jobs.states import JobState
from web.display import badge, duration_text, live

from .job_charts import duration_chart, outcome_strip

RECENT_EXECUTIONS = 10  # attempts shown on a job's page; the rest are one link away
LIVE_FIELDS = (
    "state_badge",
    "next_run_at",
    "last_run_at",
    "upcoming",
    "runs_strip",
    "durations",
    "recent_executions",
)
LIVE_EVERY_MS = 5000
# A job in these states may still start runs, so its page keeps following it.
SCHEDULED = frozenset({JobState.ACTIVE, JobState.PAUSED})


class JobPageFields:
    """Display fields for JobAdmin's detail page (listed in its readonly fields)."""

    @admin.display(description=f"next {schedules.UPCOMING_RUNS} runs")
    def upcoming(self, job):
        runs = schedules.upcoming_runs(job, now=timezone.now())
        shown = (
            format_html_join(
                "", "<div>{} UTC</div>", ((f"{run:%Y-%m-%d %H:%M:%S}",) for run in runs)
            )
            if runs
            else "— (only active jobs run)"
        )
        # Every job page shows its upcoming runs, so this field carries the live marker.
        return live(shown, fields=LIVE_FIELDS, every_ms=LIVE_EVERY_MS, on=job.state in SCHEDULED)

    @admin.display(description="belongs to")
    def belongs_to(self, job):
        queue = format_html(
            'queue <a href="{}">{}</a>',
            reverse("admin:jobs_queue_change", args=[job.queue]),
            job.queue,
        )
        step = WorkflowStep.objects.filter(job=job).select_related("workflow").first()
        if step is None:
            return queue
        workflow = reverse("admin:jobs_workflow_change", args=[step.workflow_id])
        return format_html(
            '{} · workflow <a href="{}">{}</a>, step {}', queue, workflow, step.workflow, step.name
        )

    @admin.display(description=f"last {RECENT_RUNS} runs")
    def runs_strip(self, job):
        runs = _runs_of(job)
        if not runs:
            return "None yet."
        return outcome_strip(runs, link=_execution_url)

    @admin.display(description="durations")
    def durations(self, job):
        return duration_chart(_runs_of(job), title=f"durations of {job}'s last runs")

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
                    _execution_url(e.pk),
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


def _runs_of(job) -> list:
    """The strip and the chart draw the same runs: read them once per page. The admin hands
    every field of a page the same instance, and a new one to the next request."""
    if "_recent_runs" not in job.__dict__:
        job.__dict__["_recent_runs"] = recent_runs(job)
    return job.__dict__["_recent_runs"]


def _execution_url(pk: int) -> str:
    return reverse("admin:jobs_execution_change", args=[pk])
