"""Worker admin: which runworker processes are alive, stale or stopped, and what each runs.

Shown to staff who may view workers (jobs.policy), as the API's list and /metrics are.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from jobs import policy
from jobs.models import Execution, Worker
from jobs.selectors import workers
from jobs.states import ExecutionState
from web.display import age_text, badge


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [(status, status.capitalize()) for status in workers.STATUSES]

    def queryset(self, request, queryset):
        if self.value() in workers.STATUSES:
            return workers.with_status(queryset, self.value())
        return queryset


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ("jobs/admin.css",)}

    list_display = (
        "name",
        "hostname",
        "pid",
        "queue_list",
        "concurrency",
        "status_badge",
        "heartbeat_age",
        "started_at",
        "running_now",
    )
    list_filter = (StatusFilter, "hostname")
    search_fields = ("name", "hostname")
    ordering = ("-started_at",)
    fields = (
        "name",
        "hostname",
        "pid",
        "queue_list",
        "handler_list",
        "concurrency",
        "status_badge",
        "started_at",
        "heartbeat_at",
        "stopped_at",
        "running_executions",
    )
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return policy.may_view_workers(request.user)

    # Rows are written by the workers themselves; the admin only reads them.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).with_running()

    @admin.display(description="queues")
    def queue_list(self, worker):
        return ", ".join(worker.queues or [])

    @admin.display(description="handlers (what it claims)")
    def handler_list(self, worker):
        return ", ".join(worker.handlers or []) or "—"

    @admin.display(description="status")
    def status_badge(self, worker):
        return badge(f"worker-{worker.status}", worker.status)

    @admin.display(description="last heartbeat", ordering="heartbeat_at")
    def heartbeat_age(self, worker):
        return f"{age_text(timezone.now() - worker.heartbeat_at)} ago"

    @admin.display(description="running now", ordering="running")
    def running_now(self, worker):
        count = getattr(worker, "running", 0)
        if not count:
            return "0"
        url = reverse("admin:jobs_execution_changelist")
        return format_html(
            '<a href="{}?worker__id__exact={}&amp;state__exact=running">{}</a>',
            url,
            worker.pk,
            count,
        )

    @admin.display(description="running executions")
    def running_executions(self, worker):
        rows = Execution.objects.filter(worker=worker, state=ExecutionState.RUNNING).select_related(
            "job"
        )
        return (
            format_html_join(
                "",
                '<div><a href="{}">{}</a>: {} (attempt {}, for {})</div>',
                (
                    (
                        reverse("admin:jobs_execution_change", args=[e.pk]),
                        e.pk,
                        e.job.name,
                        e.attempt,
                        age_text(timezone.now() - e.started_at),
                    )
                    for e in rows
                ),
            )
            or "Nothing."
        )
