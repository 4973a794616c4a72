"""The job form of the admin: the fields people type, checked by the service layer.

The form converts what was typed (JSON text, a wall-clock time, a list of addresses) and then
asks `services.job_validate`, the very function behind the API, whether the job is valid; its
messages land on the fields they name. Saving goes through `job_create` / `job_update` (see
JobAdmin.save_model), never through `Model.save()`, and the model's own validation is skipped
so that a rule is stated once, in the services.
"""

import json
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.html import format_html

from jobs import payloads, quotas, schedules, secrets
from jobs.exceptions import ValidationError
from jobs.models import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_QUEUE,
    DEFAULT_RETRY_BACKOFF_SECONDS,
    INT_MAX,
    SMALLINT_MAX,
    Job,
)
from jobs.registry import all_handlers
from jobs.services import EDITABLE_FIELDS, job_validate
from jobs.states import NOTIFY_EVENTS, MisfirePolicy, ScheduleType

# The fields each schedule type uses; the others are cleared before validation, so switching
# a job from interval to cron does not leave a stale interval behind to be refused.
SCHEDULE_TYPE_FIELDS = {
    ScheduleType.ONCE: "run_at",
    ScheduleType.INTERVAL: "interval_seconds",
    ScheduleType.CRON: "cron",
}
CLEARED = {"run_at": None, "interval_seconds": None, "cron": ""}
WALL_CLOCK_FORMAT = "%Y-%m-%dT%H:%M:%S"


def timezone_names() -> list[str]:
    """Return the IANA names offered as suggestions in the timezone field."""
    return sorted(available_timezones())


class PayloadField(forms.JSONField):
    """A JSON object, as the API's payload field accepts it."""

    default_error_messages = {
        "not_object": 'The payload must be a JSON object, e.g. {} or {"seconds": 5}.',
        "nul": "Text in the payload cannot contain the NUL character (\\u0000).",
    }

    def to_python(self, value):
        try:
            value = super().to_python(value)
        except RecursionError:
            # json.loads gives up on absurd nesting; it is refused like any deep payload.
            raise forms.ValidationError(payloads.too_deep_message(), code="depth") from None
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(self.error_messages["not_object"], code="not_object")
        problem = payloads.depth_problem(value)
        if problem:
            raise forms.ValidationError(problem, code="depth")
        if payloads.contains_nul(value):
            raise forms.ValidationError(self.error_messages["nul"], code="nul")
        return value

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except RecursionError:  # shown again as typed, with the error from to_python
            return forms.fields.InvalidJSONInput(data)

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)


class EmailListField(forms.CharField):
    """Addresses one per line or separated by commas; the services check each one."""

    widget = forms.Textarea(attrs={"rows": 2, "cols": 60})

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [item for item in re.split(r"[\s,;]+", text) if item]

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(value)
        return value


class JobForm(forms.ModelForm):
    name = forms.CharField(max_length=200)
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        empty_label="— none: a system job —",
        help_text="Whose job this is; they see it in the API.",
    )
    handler = forms.ChoiceField(help_text="The registered handler that runs the job.")
    payload = PayloadField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60, "class": "sched-mono"}),
    )
    schedule_type = forms.ChoiceField(
        choices=ScheduleType.choices, initial=ScheduleType.CRON, widget=forms.RadioSelect
    )
    run_at = forms.DateTimeField(
        required=False,
        input_formats=[WALL_CLOCK_FORMAT, "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": 1}, format=WALL_CLOCK_FORMAT
        ),
        help_text="One-time jobs: the wall-clock time, in the job's timezone.",
    )
    interval_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=INT_MAX,
        help_text="Interval jobs: seconds between runs (counted in real time, DST-proof).",
    )
    cron = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"class": "sched-mono", "size": 30}),
        help_text=(
            "Cron jobs: 5 fields <code>minute hour day month weekday</code>, 6 with seconds "
            "first (<code>*/5 * * * * *</code>), or <code>@hourly @daily @weekly @monthly "
            "@yearly</code>. Evaluated on the wall clock of the job's timezone."
        ),
    )
    timezone = forms.CharField(
        max_length=64,
        initial="UTC",
        widget=forms.TextInput(attrs={"list": "sched-timezones", "size": 30}),
        help_text="An IANA name such as Europe/Berlin.",
    )
    misfire_policy = forms.ChoiceField(
        choices=MisfirePolicy.choices,
        initial=MisfirePolicy.RUN_ONCE,
        help_text="After downtime: run the latest missed run once, skip it, or run each one.",
    )
    queue = forms.CharField(max_length=100, initial=DEFAULT_QUEUE)
    priority = forms.IntegerField(
        initial=0, min_value=-SMALLINT_MAX - 1, max_value=SMALLINT_MAX, help_text="Higher first."
    )
    max_retries = forms.IntegerField(
        initial=DEFAULT_MAX_RETRIES, min_value=0, max_value=SMALLINT_MAX
    )
    retry_backoff_seconds = forms.IntegerField(
        initial=DEFAULT_RETRY_BACKOFF_SECONDS,
        min_value=0,
        max_value=INT_MAX,
        help_text="Base of the exponential backoff between attempts.",
    )
    timeout_seconds = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=INT_MAX,
        help_text="Empty: the JOB_DEFAULT_TIMEOUT_SECONDS setting.",
    )
    notify_on = forms.MultipleChoiceField(
        choices=[(event, event) for event in NOTIFY_EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Events that send a notification.",
    )
    notify_emails = EmailListField(required=False, help_text="One address per line.")
    notify_webhook_url = forms.CharField(required=False, max_length=500)
    notify_webhook_secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signs webhook events (HMAC-SHA256). Leave empty to keep the current one.",
    )
    clear_webhook_secret = forms.BooleanField(required=False, label="Remove the webhook secret")
    notify_digest_minutes = forms.IntegerField(
        initial=15,
        min_value=0,
        max_value=INT_MAX,
        help_text="At most one failure email per this many minutes (0: every one).",
    )

    class Meta:
        model = Job
        fields = ()  # the admin passes the fields of its fieldsets

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.job_fields: dict = {}
        if "handler" in self.fields:
            self.fields["handler"].choices = self.handler_choices()
            self.fields["payload"].help_text = self.schema_help()
        if self.instance.pk and not self.instance._state.adding:
            self._initial_from_job(self.instance)

    def handler_choices(self) -> list[tuple[str, str]]:
        """Registered handlers users may name, plus the job's own (whatever it is)."""
        current = self.instance.handler if not self.instance._state.adding else ""
        choices = [("", "---------")]
        for handler in all_handlers():
            if handler.internal and handler.name != current:
                continue
            summary = handler.description.splitlines()[0] if handler.description else ""
            choices.append(
                (handler.name, f"{handler.name} — {summary}" if summary else handler.name)
            )
        if current and current not in {name for name, _ in choices}:
            choices.append((current, f"{current} (not registered)"))
        return choices

    def schema_help(self):
        name = self.data.get("handler") if self.is_bound else self.initial.get("handler")
        name = name or (self.instance.handler if not self.instance._state.adding else "")
        handler = next((h for h in all_handlers() if h.name == name), None)
        schema = json.dumps(handler.schema, indent=2) if handler is not None else ""
        example = handler.example if handler is not None else None
        return format_html(
            '<div class="sched-schema" data-for="id_handler">'
            '<span class="sched-schema-title">Payload schema of <b class="sched-schema-name">{}'
            '</b>:</span><pre class="sched-pre sched-schema-body">{}</pre>'
            '<div class="sched-schema-example-box"{}><span class="sched-schema-title">'
            'For example:</span><pre class="sched-pre sched-schema-example">{}</pre></div></div>',
            name or "the chosen handler",
            schema or "Choose a handler to see the JSON Schema its payload must match.",
            " hidden" if example is None else "",
            "" if example is None else json.dumps(example, indent=2),
        )

    def _initial_from_job(self, job: Job) -> None:
        # Show a one-time job's time on the wall clock it was given in.
        if job.run_at and "run_at" in self.fields:
            try:
                zone = ZoneInfo(job.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                zone = timezone.get_current_timezone()
            self.initial["run_at"] = job.run_at.astimezone(zone).replace(tzinfo=None)
        self.initial.pop("notify_webhook_secret", None)
        # Secrets never reach the page: shown masked, and a mask left as it is keeps them.
        self.initial["payload"] = secrets.masked(job.handler, job.payload)

    # --- Validation ----------------------------------------------------------------------

    def _post_clean(self):
        # The model's full_clean() would judge the job by its field constraints, in other
        # words than the API's; job_validate (in clean) is the judge. The instance stays as
        # it was read, so the services can compare the old definition with the new.
        pass

    def clean(self):
        data = super().clean()
        fields = self._definition(data)
        try:
            self.job_fields = job_validate(fields)
            self._check_quotas(data)
        except ValidationError as exc:
            for name, messages in exc.errors.items():
                if name in self.fields:
                    if name not in self.errors:
                        self.add_error(name, list(messages))
                else:
                    self.add_error(None, [f"{name}: {m}" for m in messages])
        self.job_fields = {name: self.job_fields.get(name) for name in EDITABLE_FIELDS}
        return data

    def _check_quotas(self, data: dict) -> None:
        """Hold the job to its owner's quotas, as the services will (a form error here)."""
        if self.instance._state.adding:
            quotas.check_definition(data.get("owner"), self.job_fields)
            return
        changed = [
            name
            for name in EDITABLE_FIELDS
            if self.job_fields.get(name) != getattr(self.instance, name)
        ]
        quotas.check_definition(self.instance.owner_id, self.job_fields, changed=changed)

    def _definition(self, data: dict) -> dict:
        """Return the job definition the form describes, its fields in the services' terms."""
        job = self.instance
        adding = job._state.adding
        fields = {}
        for name in EDITABLE_FIELDS:
            if name in data:
                fields[name] = data[name]
            elif adding:
                fields[name] = self.fields[name].initial if name in self.fields else None
            else:
                fields[name] = getattr(job, name)
        kind = fields.get("schedule_type")
        for name, empty in CLEARED.items():
            if SCHEDULE_TYPE_FIELDS.get(kind) != name:
                fields[name] = empty
        if fields.get("run_at") is not None:
            fields["run_at"] = self.on_job_clock(fields["run_at"], fields.get("timezone"))
        if not adding and fields.get("payload") is not None:
            fields["payload"] = secrets.restored(
                fields.get("handler") or "",
                fields["payload"],
                stored_handler=job.handler,
                stored=job.payload,
            )
        if not adding and not data.get("notify_webhook_secret"):
            fields["notify_webhook_secret"] = job.notify_webhook_secret
        if data.get("clear_webhook_secret"):
            fields["notify_webhook_secret"] = ""
        for name in ("cron", "notify_webhook_url", "notify_webhook_secret"):
            fields[name] = fields.get(name) or ""
        fields["notify_on"] = list(fields.get("notify_on") or [])
        fields["notify_emails"] = list(fields.get("notify_emails") or [])
        return fields

    @staticmethod
    def on_job_clock(moment, zone_name):
        """Read the time typed (parsed on the server's clock) as a wall time of the job's.

        The schedules' own rule decides: a time skipped by a DST change means the change.
        """
        try:
            zone = ZoneInfo(zone_name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return moment  # job_validate reports the timezone
        wall = timezone.make_naive(moment) if timezone.is_aware(moment) else moment
        return schedules.resolve_wall_time(wall, zone)
