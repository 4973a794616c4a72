"""Job admin: the list operators scan, the form that edits a job, and its actions.

Every change goes through the service layer: the form validates with `job_validate` (the
API's judge), saving calls `job_create` / `job_update`, deleting `job_delete`, and each
action one service per job (see common.apply_each). Who may see, change and delete which
job is jobs.policy's call, as in the API; only superusers choose a new job's owner (or
none, for a job of the scheduler's own): anyone else's new job is theirs.
"""

from django.contrib import admin, messages
from django.db.models import F, Func, JSONField, OuterRef, Subquery, TextField, Value
from django.db.models.functions import Cast
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from jobs import audit, policy, secrets, services
from jobs.describe import describe_schedule
from jobs.exceptions import SchedulerError
from jobs.models import SCHEDULE_FIELDS, Execution, Job
from jobs.registry import all_handlers
from jobs.states import ScheduleType, job_allows
from web.display import badge

from .backfill import backfill
from .common import ObjectActionsMixin, PolicyPermissionsMixin, apply_each
from .confirm import confirmation
from .forms import JobForm
from .job_page import JobPageFields


class HandlerFilter(admin.SimpleListFilter):
    """The registered handlers, read from the registry rather than a DISTINCT over rows."""

    title = "handler"
    parameter_name = "handler"
    field = "handler"

    def lookups(self, request, model_admin):
        return [(h.name, h.name) for h in all_handlers()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field: self.value()})
        return queryset


# Each admin action, and the service rule (jobs.states.JOB_ACTIONS) that allows it.
ACTION_RULES = {
    "pause": "pause",
    "resume": "resume",
    "run_now": "trigger",
    "cancel": "cancel",
    "backfill": "backfill",
}

FIELDSETS = (
    (None, {"fields": ("name", "owner", "handler", "payload")}),
    (
        "Schedule",
        {"fields": (*SCHEDULE_FIELDS, "misfire_policy")},
    ),
    (
        "Running",
        {
            "fields": (
                "queue",
                "priority",
                "max_retries",
                "retry_backoff_seconds",
                "timeout_seconds",
            )
        },
    ),
    (
        "Notifications",
        {
            "classes": ("collapse",),
            "fields": (
                "notify_on",
                "notify_emails",
                "notify_webhook_url",
                "notify_webhook_secret",
                "clear_webhook_secret",
                "notify_digest_minutes",
            ),
        },
    ),
)
# A page the operator may only read shows each model field as stored; these stand in for
# the fields that hold secrets: the payload masked (jobs.secrets), the webhook secret as
# set or not. The secret's "remove" box is the form's alone.
READ_ONLY_STAND_INS = {
    "payload": "masked_payload",
    "notify_webhook_secret": "webhook_secret_set",
}
READ_ONLY_LEFT_OUT = frozenset({"clear_webhook_secret"})
# The fields that show a job's runs, left out for those who may not see its history.
HISTORY_FIELDS = frozenset({"runs_strip", "durations", "recent_executions"})
STATE_FIELDSET = (
    "State",
    {
        "fields": (
            "state_badge",
            "belongs_to",
            "schedule_text",
            "next_run_at",
            "upcoming",
            "last_run_at",
            "runs_strip",
            "durations",
            "recent_executions",
            "id",
            "created_at",
            "updated_at",
        )
    },
)


@admin.register(Job)
class JobAdmin(JobPageFields, PolicyPermissionsMixin, ObjectActionsMixin, admin.ModelAdmin):
    class Media:
        css = {"all": ("jobs/admin.css",)}
        js = ("jobs/live_fields.js",)

    form = JobForm
    change_form_template = "admin/jobs/change_form.html"
    actions = ["pause", "resume", "run_now", "cancel", backfill]
    object_actions = ("run_now", "pause", "resume", "cancel", "backfill")
    confirm_object_actions = ("cancel",)
    list_display = (
        "name",
        "owner",
        "handler",
        "schedule_text",
        "state_badge",
        "next_run_at",
        "last_run_at",
        "last_outcome",
    )
    list_display_links = ("name",)
    list_filter = ("state", HandlerFilter, "schedule_type", "queue", "owner")
    list_select_related = ("owner",)
    search_fields = ("name",)
    search_help_text = "Words in the job's name or its payload."
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
    readonly_fields = STATE_FIELDSET[1]["fields"]

    # --- Permissions and layout ----------------------------------------------------------

    def has_change_permission(self, request, obj=None):
        # A cancelled job is history: it can be read and deleted, not edited.
        if obj is not None and not job_allows(obj.state, "edit"):
            return False
        return super().has_change_permission(request, obj)

    def get_fieldsets(self, request, obj=None):
        if obj is None and policy.may_choose_owner(request.user):
            return FIELDSETS
        if obj is None:
            mine = (None, {"fields": ("name", "handler", "payload")})  # the owner is them
            return (mine, *FIELDSETS[1:])
        first = (None, {"fields": ("name", "handler", "payload")})
        state = STATE_FIELDSET
        if not policy.may_view_history(request.user, obj):
            shown = tuple(name for name in state[1]["fields"] if name not in HISTORY_FIELDS)
            state = (state[0], {**state[1], "fields": shown})
        fieldsets = (first, *FIELDSETS[1:], state)
        if not self.has_change_permission(request, obj):
            fieldsets = tuple(
                (title, {**options, "fields": _read_only_fields(options["fields"])})
                for title, options in fieldsets
            )
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*self.readonly_fields, "owner")

    def get_changeform_initial_data(self, request):
        # A new job's payload box starts at {}, not at null.
        initial = {"owner": request.user.pk, "payload": {}}
        return {**initial, **super().get_changeform_initial_data(request)}

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The form's script shows the payload schema and an example of whichever handler is
        # chosen, and starts an untouched payload from the example.
        shown = [h for h in all_handlers() if not h.internal]
        context["handler_schemas"] = {
            h.name: {"schema": h.schema, "example": h.example} for h in shown
        }
        return super().render_change_form(request, context, add, change, form_url, obj)

    def object_action_allowed(self, obj, name: str) -> bool:
        if name == "backfill" and obj.schedule_type == ScheduleType.ONCE:
            return False  # a one-time job has no past occurrences
        return job_allows(obj.state, ACTION_RULES[name])

    # --- Actions: one service call per job --------------------------------------------

    @admin.action(description="Pause selected jobs", permissions=["change"])
    def pause(self, request, queryset):
        if asked := confirmation(self, request, queryset, verb="pause", past="paused"):
            return asked
        apply_each(
            self, request, queryset, service=lambda j: services.job_pause(job=j), past="paused"
        )

    @admin.action(description="Resume selected jobs", permissions=["change"])
    def resume(self, request, queryset):
        if asked := confirmation(self, request, queryset, verb="resume", past="resumed"):
            return asked
        apply_each(
            self, request, queryset, service=lambda j: services.job_resume(job=j), past="resumed"
        )

    @admin.action(description="Run selected jobs now", permissions=["change"])
    def run_now(self, request, queryset):
        if asked := confirmation(self, request, queryset, verb="run", past="run now"):
            return asked
        apply_each(
            self,
            request,
            queryset,
            service=lambda j: services.job_trigger(job=j),
            past="queued",
            detail=lambda job, execution: f" (execution {execution.pk})",
        )

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel(self, request, queryset):
        if asked := confirmation(self, request, queryset, verb="cancel", past="cancelled"):
            return asked
        apply_each(
            self, request, queryset, service=lambda j: services.job_cancel(job=j), past="cancelled"
        )

    # --- The list ------------------------------------------------------------------------

    def get_queryset(self, request):
        # The newest attempt's state, read through the (job, scheduled_for, attempt) key.
        newest = Execution.objects.filter(job=OuterRef("pk")).order_by("-scheduled_for", "-attempt")
        return policy.jobs_for(request.user, jobs=super().get_queryset(request)).annotate(
            last_outcome_state=Subquery(newest.values("state")[:1])
        )

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term:
            # Secret fields (a handler schema's writeOnly ones) are left out of the text
            # searched: a search must not confirm a secret it could not show.
            searched = F("payload")
            for key in _secret_keys():
                searched = JSONWithout(searched, Value(key))
            in_payload = queryset.alias(payload_text=Cast(searched, TextField())).filter(
                payload_text__icontains=search_term
            )
            results = results | in_payload
        return results, may_have_duplicates

    @admin.display(description="schedule")
    def schedule_text(self, job):
        return describe_schedule(job)

    @admin.display(description="state", ordering="state")
    def state_badge(self, job):
        return badge(job.state, job.get_state_display())

    @admin.display(description="last outcome")
    def last_outcome(self, job):
        state = getattr(job, "last_outcome_state", None)
        return badge(state) if state else "—"

    # --- Saving through the services -----------------------------------------------------

    def save_model(self, request, obj, form, change):
        try:
            with audit.acting_as(audit.admin_actor(request)):
                if change:
                    services.job_update(job=obj, **form.job_fields)
                else:
                    owner = (
                        form.cleaned_data.get("owner")
                        if policy.may_choose_owner(request.user)
                        else request.user
                    )
                    created = services.job_create(owner=owner, **form.job_fields)
                    _adopt(obj, created)
        except SchedulerError as exc:
            # Validated a moment ago, refused now: another change came first.
            request._scheduler_refusal = str(exc)
            self.message_user(request, f"Not saved: {exc}", messages.ERROR)

    def message_user(self, request, message, level=messages.INFO, *args, **kwargs):
        if level == messages.SUCCESS and getattr(request, "_scheduler_refusal", None):
            return  # the admin's "changed successfully" would be untrue
        super().message_user(request, message, level, *args, **kwargs)

    # A refused save changed nothing: no history entry, and no redirect to a job that was
    # never created.
    def log_addition(self, request, obj, message):
        if not getattr(request, "_scheduler_refusal", None):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "_scheduler_refusal", None):
            return super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "_scheduler_refusal", None):
            return HttpResponseRedirect(reverse("admin:jobs_job_add"))
        return super().response_add(request, obj, post_url_continue)

    def get_deleted_objects(self, objs, request):
        """Name the jobs and count their history, rather than list every execution.

        Executions cannot be deleted one by one in the admin (they are records), but they go
        with their job; the admin's default would ask for that permission and list each of
        a job's possibly million attempts.
        """
        jobs = list(objs)
        runs = Execution.objects.filter(job__in=jobs).count()
        names = [format_html('<a href="{}">{}</a>', change_url(job), job) for job in jobs]
        deleted = [*names, f"{runs} execution(s): their whole attempt history"]
        permitted = all(self.has_delete_permission(request, job) for job in jobs)
        perms_needed = set() if permitted else {"job"}
        counts = {"jobs": len(jobs), "executions": runs}
        return deleted, counts, perms_needed, []

    def delete_model(self, request, obj):
        with audit.acting_as(audit.admin_actor(request)):
            services.job_delete(job=obj)

    def delete_queryset(self, request, queryset):
        with audit.acting_as(audit.admin_actor(request)):
            for job in queryset:
                services.job_delete(job=job)


class JSONWithout(Func):
    """A JSON object without one of its keys: PostgreSQL's `jsonb - text`."""

    arg_joiner = " - "
    template = "(%(expressions)s)"
    output_field = JSONField()


def _secret_keys() -> set[str]:
    """The top-level payload keys any registered handler's schema marks secret."""
    return {path[0] for h in all_handlers() for path in secrets.secret_paths(h.name) if path}


def change_url(job: Job) -> str:
    return reverse("admin:jobs_job_change", args=[job.pk])


def _adopt(form_instance: Job, created: Job) -> None:
    """Make the admin's unsaved instance the job the services created.

    The admin redirects and logs using the instance its form built; the services made
    (and saved) their own, so the form's copy takes on its fields and its saved state.
    """
    for field in Job._meta.concrete_fields:
        setattr(form_instance, field.attname, getattr(created, field.attname))
    form_instance._state.adding = False
    form_instance._state.db = created._state.db


def _read_only_fields(names: tuple) -> tuple:
    """Return `names` with the fields that hold secrets swapped for their stand-ins."""
    return tuple(
        READ_ONLY_STAND_INS.get(name, name) for name in names if name not in READ_ONLY_LEFT_OUT
    )
