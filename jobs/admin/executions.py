"""Execution admin: the attempt history, the dead-letter list, and retry / cancel.

Executions are records of what happened: every field is read-only, nothing is added or
deleted here (the cleanup handler prunes old ones); the only changes are the two actions,
each a service call. Whose executions an operator sees and acts on is jobs.policy's call.
"""

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs import policy, services
from jobs.models import Execution, Job
from jobs.states import FINISHED_EXECUTION_STATES, ExecutionState, execution_allows
from web.display import badge, duration_text, live, pre

from .common import ObjectActionsMixin, PolicyPermissionsMixin, apply_each
from .confirm import confirmation
from .jobs import HandlerFilter
from .pagination import EstimatedCountPaginator

ERROR_PREVIEW_CHARS = 120  # of the error's first line, in the list
# What an execution's page refreshes while its run is on, and how often.
LIVE_FIELDS = (
    "state_badge",
    "progress_display",
    "log_display",
    "started_at",
    "finished_at",
    "duration_display",
    "result_display",
    "error_display",
)
LIVE_EVERY_MS = 2000


def execution_label(execution) -> str:
    return f"Execution {execution.pk}"


class ExecutionHandlerFilter(HandlerFilter):
    field = "job__handler"


class ExecutionQueueFilter(admin.SimpleListFilter):
    """The queues of the jobs: a DISTINCT over every execution ever run would read the whole
    history on each page view; each execution is in its job's queue (or was, before an edit)."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        queues = Job.objects.order_by("queue").values_list("queue", flat=True).distinct()
        return [(queue, queue) for queue in queues]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(queue=self.value())
        return queryset


# The quick links above the list: the dead letters first, as operators look there most.
QUICK_FILTERS = (
    ("Dead letters", ExecutionState.DEAD),
    ("Failed attempts", ExecutionState.FAILED),
    ("Running", ExecutionState.RUNNING),
    ("Queued", ExecutionState.QUEUED),
)


@admin.register(Execution)
class ExecutionAdmin(PolicyPermissionsMixin, ObjectActionsMixin, admin.ModelAdmin):
    class Media:
        css = {"all": ("jobs/admin.css",)}
        js = ("jobs/live_fields.js",)

    change_form_template = "admin/jobs/change_form.html"
    change_list_template = "admin/jobs/execution/change_list.html"
    actions = ["retry", "cancel"]
    object_actions = ("retry", "cancel")
    confirm_object_actions = ("cancel",)
    list_display = (
        "id",
        "job_link",
        "handler",
        "attempt",
        "state_badge",
        "queue",
        "worker",
        "scheduled_for",
        "started_at",
        "duration_display",
        "error_preview",
    )
    list_filter = (
        "state",
        ExecutionQueueFilter,
        ExecutionHandlerFilter,
        "worker",
        "scheduled_for",
        "finished_at",
    )
    list_select_related = ("job", "worker")
    search_fields = ("=id", "job__name", "error")
    search_help_text = "An execution id, words in the job's name, or in the error."
    ordering = ("-created_at", "-id")
    list_per_page = 50
    # No COUNT(*) of the whole history: estimated when unfiltered, not shown when filtered.
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    fields = (
        "job_link",
        "handler",
        "state_badge",
        "scheduled_for",
        "attempt",
        "queue",
        "priority",
        "run_after",
        "worker",
        "claimed_at",
        "started_at",
        "finished_at",
        "duration_display",
        "cancel_requested",
        "progress_display",
        "log_display",
        "result_display",
        "error_display",
        "traceback_display",
        "attempt_history",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # An execution's page is a record: never saved from the admin (a worker may be
        # writing the row). The actions still need the change permission (obj=None).
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def get_queryset(self, request):
        executions = policy.executions_for(request.user, executions=super().get_queryset(request))
        # A run's log is up to EXECUTION_LOG_MAX_BYTES: read on its own page only.
        return executions.defer("log") if _is_changelist(request) else executions

    def object_action_allowed(self, obj, name: str) -> bool:
        return execution_allows(obj.state, name)

    def changelist_view(self, request, extra_context=None):
        base = reverse("admin:jobs_execution_changelist")
        quick = [(label, f"{base}?state__exact={state}") for label, state in QUICK_FILTERS]
        return super().changelist_view(request, {"quick_filters": quick, **(extra_context or {})})

    # --- Actions -------------------------------------------------------------------------

    @admin.action(description="Retry selected executions", permissions=["change"])
    def retry(self, request, queryset):
        if asked := confirmation(self, request, queryset, verb="retry", past="retried"):
            return asked
        apply_each(
            self,
            request,
            queryset.select_related("job"),
            service=lambda e: services.execution_retry(execution=e),
            past="retried",
            label=execution_label,
            detail=lambda e, new: f" as execution {new.pk}",
        )

    @admin.action(description="Cancel selected executions", permissions=["change"])
    def cancel(self, request, queryset):
        if asked := confirmation(self, request, queryset, verb="cancel", past="cancelled"):
            return asked
        apply_each(
            self,
            request,
            queryset.select_related("job"),
            service=lambda e: services.execution_cancel(execution=e),
            past="cancelled",
            label=execution_label,
        )

    # --- Columns and fields --------------------------------------------------------------

    @admin.display(description="job", ordering="job__name")
    def job_link(self, execution):
        url = reverse("admin:jobs_job_change", args=[execution.job_id])
        return format_html('<a href="{}">{}</a>', url, execution.job.name)

    @admin.display(description="handler", ordering="job__handler")
    def handler(self, execution):
        return execution.job.handler

    @admin.display(description="state", ordering="state")
    def state_badge(self, execution):
        label = execution.get_state_display()
        if execution.state == ExecutionState.DEAD:
            label = "Dead (dead letter)"
        return badge(execution.state, label)

    @admin.display(description="duration")
    def duration_display(self, execution):
        return duration_text(execution.duration)

    @admin.display(description="error")
    def error_preview(self, execution):
        first = (execution.error.splitlines() or [""])[0]
        if len(first) > ERROR_PREVIEW_CHARS:
            first = first[: ERROR_PREVIEW_CHARS - 1] + "…"
        return first or "—"

    @admin.display(description="result")
    def result_display(self, execution):
        if execution.result is None:
            return "—"
        return pre(json.dumps(execution.result, indent=2, ensure_ascii=False))

    @admin.display(description="error")
    def error_display(self, execution):
        return pre(execution.error, "sched-error")

    @admin.display(description="traceback")
    def traceback_display(self, execution):
        return pre(execution.traceback, "sched-traceback")

    @admin.display(description="progress")
    def progress_display(self, execution):
        if execution.progress is None:
            bar = "—"
        else:
            bar = format_html(
                '<progress max="100" value="{}">{} %</progress> {} %{}',
                execution.progress,
                execution.progress,
                execution.progress,
                f" — {execution.progress_message}" if execution.progress_message else "",
            )
        # The page's script refreshes the run's fields until it ends.
        running = execution.state not in FINISHED_EXECUTION_STATES
        return live(bar, fields=LIVE_FIELDS, every_ms=LIVE_EVERY_MS, on=running)

    @admin.display(description="log")
    def log_display(self, execution):
        return pre(execution.log, "sched-log")

    @admin.display(description="attempts of this occurrence")
    def attempt_history(self, execution):
        attempts = Execution.objects.filter(
            job_id=execution.job_id, scheduled_for=execution.scheduled_for
        ).order_by("attempt")
        return format_html_join(
            "",
            '<div>{}<a href="{}">attempt {}</a> {} {}</div>',
            (
                (
                    "→ " if other.pk == execution.pk else "",
                    reverse("admin:jobs_execution_change", args=[other.pk]),
                    other.attempt,
                    badge(other.state),
                    (other.error.splitlines() or [""])[0][:ERROR_PREVIEW_CHARS],
                )
                for other in attempts
            ),
        )


def _is_changelist(request) -> bool:
    match = request.resolver_match
    return match is not None and match.url_name == "jobs_execution_changelist"
