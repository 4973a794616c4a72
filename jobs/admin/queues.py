"""Queue admin: every queue in use, its depth and running work against its limits, pause and
resume, and its limits edited through the service (jobs.services.queues), audited.

Staff see it with jobs.view_queue and change it with jobs.change_queue (jobs.policy), as the
API's queue endpoints ask.
"""

from django import forms
from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs import audit, policy
from jobs.exceptions import SchedulerError
from jobs.models import Execution, Queue
from jobs.selectors.queues import HELD_BACK_KINDS
from jobs.services.queues import (
    LIMIT_FIELDS,
    limits_errors,
    queue_pause,
    queue_resume,
    queue_update,
)
from jobs.states import ExecutionState
from web.display import badge

from .common import ObjectActionsMixin, apply_each


class QueueForm(forms.ModelForm):
    class Meta:
        model = Queue
        fields = LIMIT_FIELDS

    def clean(self):
        cleaned = super().clean()
        for field, messages in limits_errors({f: cleaned.get(f) for f in LIMIT_FIELDS}).items():
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(Queue)
class QueueAdmin(ObjectActionsMixin, admin.ModelAdmin):
    class Media:
        css = {"all": ("jobs/admin.css",)}

    form = QueueForm
    actions = ["pause", "resume"]
    object_actions = ("pause", "resume")
    list_display = (
        "name",
        "state_badge",
        "queued",
        "due",
        "running_vs_limit",
        "rate",
        "oldest_wait",
        "held_back",
    )
    list_display_links = ("name",)
    search_fields = ("name",)
    readonly_fields = ("name", "state_badge", "queued", "due", "running_vs_limit", "held_back")
    fields = ("name", "state_badge", *LIMIT_FIELDS, "queued", "due", "running_vs_limit")

    # --- Permissions: the policy's, as the API asks ---------------------------------------

    def has_view_permission(self, request, obj=None):
        return policy.reaches_all(request.user, policy.VIEW, Queue)

    def has_change_permission(self, request, obj=None):
        return policy.reaches_all(request.user, policy.CHANGE, Queue)

    def has_add_permission(self, request):
        return False  # a queue exists when a job names it

    def has_delete_permission(self, request, obj=None):
        return False

    def object_action_allowed(self, obj, name: str) -> bool:
        return obj.paused if name == "resume" else not obj.paused

    # --- What each queue holds: counted beside each row over the partial indexes ----------

    def get_queryset(self, request):
        now = timezone.now()
        of_queue = Execution.objects.filter(queue=OuterRef("name")).order_by()
        queued = of_queue.filter(state=ExecutionState.QUEUED)
        return (
            super()
            .get_queryset(request)
            .select_related("engine_state")
            .annotate(
                queued=_count(queued),
                due=_count(queued.filter(run_after__lte=now)),
                running=_count(of_queue.filter(state=ExecutionState.RUNNING)),
                oldest_due_at=Subquery(
                    queued.filter(run_after__lte=now).order_by("run_after").values("run_after")[:1]
                ),
            )
        )

    @admin.display(description="state")
    def state_badge(self, queue):
        if queue.paused:
            return badge("paused", "Paused")
        full = queue.concurrency_limit is not None and queue.running >= queue.concurrency_limit
        if queue.due and full:
            return badge("throttled", "At its limit")
        return badge("active", "Open")

    @admin.display(description="queued", ordering="queued")
    def queued(self, queue):
        return queue.queued

    @admin.display(description="due", ordering="due")
    def due(self, queue):
        return queue.due

    @admin.display(description="running / limit")
    def running_vs_limit(self, queue):
        return f"{queue.running} / {queue.concurrency_limit or '—'}"

    @admin.display(description="rate")
    def rate(self, queue):
        if queue.rate_limit is None:
            return "—"
        return f"{queue.rate_limit} per {queue.rate_period} s"

    @admin.display(description="oldest due wait")
    def oldest_wait(self, queue):
        if queue.oldest_due_at is None:
            return "—"
        return f"{max(0.0, (timezone.now() - queue.oldest_due_at).total_seconds()):.1f} s"

    @admin.display(description="claims held back")
    def held_back(self, queue):
        state = getattr(queue, "engine_state", None)
        if state is None:
            return "—"
        counts = {kind: getattr(state, f"held_{kind}") for kind in HELD_BACK_KINDS}
        return ", ".join(f"{kind} {n}" for kind, n in counts.items() if n) or "—"

    # --- Changes through the service ------------------------------------------------------

    def save_model(self, request, obj, form, change):
        limits = {field: form.cleaned_data[field] for field in LIMIT_FIELDS}
        try:
            with audit.acting_as(audit.admin_actor(request)):
                queue_update(name=obj.name, **limits)
        except SchedulerError as exc:  # validated a moment ago: another change came first
            self.message_user(request, f"Not saved: {exc}", level="error")
        obj.refresh_from_db()

    @admin.action(description="Pause selected queues", permissions=["change"])
    def pause(self, request, queryset):
        apply_each(
            self, request, queryset, service=lambda q: queue_pause(name=q.name), past="paused"
        )

    @admin.action(description="Resume selected queues", permissions=["change"])
    def resume(self, request, queryset):
        apply_each(
            self, request, queryset, service=lambda q: queue_resume(name=q.name), past="resumed"
        )


def _count(rows):
    """A correlated count of `rows` beside each queue (0 when none)."""
    counted = rows.values("queue").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)
