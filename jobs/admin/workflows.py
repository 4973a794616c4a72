"""Workflow admin: the list with each workflow's state, a page with its graph (server-side
SVG) and its steps, cancel as an action and a button, and a form that creates one from the
same JSON as the API. Whose workflows an operator sees and cancels is jobs.policy's call."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs import audit, policy
from jobs.exceptions import ValidationError
from jobs.models import Workflow
from jobs.selectors.workflows import step_rows
from jobs.services.workflows import workflow_cancel, workflow_create

from .common import ObjectActionsMixin, PolicyPermissionsMixin, apply_each
from .workflow_graph import workflow_graph


class WorkflowAddForm(forms.ModelForm):
    steps = forms.JSONField(
        help_text='A list of steps, as the API takes them: [{"name": "a", "handler": "noop", '
        '"payload": {}, "depends_on": []}, ...]'
    )

    class Meta:
        model = Workflow
        fields = ["name"]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            # Created here, whole or not at all: the service's errors become form errors.
            self.instance = workflow_create(
                owner=self.user, name=cleaned["name"], steps=cleaned["steps"]
            )
        except ValidationError as exc:
            for field, messages in exc.errors.items():
                if field == "name":
                    self.add_error("name", list(messages))
                else:
                    self.add_error("steps", [f"{field}: {message}" for message in messages])
        return cleaned


@admin.register(Workflow)
class WorkflowAdmin(ObjectActionsMixin, PolicyPermissionsMixin, admin.ModelAdmin):
    list_display = ("name", "owner", "state_text", "step_count", "created_at")
    search_fields = ("name",)
    ordering = ("-created_at",)
    actions = ["cancel"]
    object_actions = ("cancel",)
    confirm_object_actions = ("cancel",)
    readonly_fields = (
        "name",
        "owner",
        "state_text",
        "created_at",
        "cancelled_at",
        "graph",
        "step_table",
    )
    fields = readonly_fields

    def get_queryset(self, request):
        rows = super().get_queryset(request).with_state()
        return policy.workflows_for(request.user, workflows=rows)

    def has_add_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, **kwargs)
        form = WorkflowAddForm

        class Bound(form):
            def __init__(self, *args, **inner):
                super().__init__(*args, user=request.user, **inner)

        return Bound

    def get_fields(self, request, obj=None):
        return ["name", "steps"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        pass  # the form created it through the service

    def add_view(self, request, form_url="", extra_context=None):
        with audit.acting_as(audit.admin_actor(request)):
            return super().add_view(request, form_url, extra_context)

    @admin.display(description="state")
    def state_text(self, workflow):
        return workflow.state

    @admin.display(description="steps")
    def step_count(self, workflow):
        return workflow.step_count

    @admin.display(description="graph")
    def graph(self, workflow):
        return workflow_graph(step_rows(workflow))

    @admin.display(description="steps")
    def step_table(self, workflow):
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td><a href="{}">job</a></td><td>{}</td><td>{}</td></tr>',
            (
                (
                    step.name,
                    step.state,
                    reverse("admin:jobs_job_change", args=[step.job_id]),
                    _execution_link(step.execution_id),
                    ", ".join(step.depends_on) or "-",
                )
                for step in step_rows(workflow)
            ),
        )
        return format_html(
            "<table><thead><tr><th>step</th><th>state</th><th>job</th><th>latest run</th>"
            "<th>after</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.action(description="Cancel selected workflows", permissions=["change"])
    def cancel(self, request, queryset):
        apply_each(
            self, request, queryset, service=lambda w: workflow_cancel(workflow=w), past="cancelled"
        )


def _execution_link(execution_id):
    if execution_id is None:
        return "-"
    url = reverse("admin:jobs_execution_change", args=[execution_id])
    return format_html('<a href="{}">#{}</a>', url, execution_id)
