"""Serializers: the JSON form of jobs, executions, workers and handlers.

They check shapes and types only (unknown fields, wrong types, times without an offset, a
payload that is not an object); whether a job makes sense is the service layer's call
(jobs.services.job_validate), so the API and the admin accept exactly the same jobs.
"""

from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from jobs import payloads, schedules, secrets
from jobs.models import INT_MAX, SMALLINT_MAX, Execution, Job, Worker
from jobs.selectors import workers
from jobs.selectors.schedules import MAX_PREVIEW_RUNS, PREVIEW_RUNS
from jobs.services import EDITABLE_FIELDS
from jobs.states import NOTIFY_EVENTS, ScheduleType
from web import serializers as strict

# The statuses a worker is shown with (the API's WorkerStatusEnum).
WORKER_STATUSES = workers.STATUSES


class StrictFieldsMixin(strict.StrictFieldsMixin):
    """Refuse unknown and read-only fields, and values nested deeper than a payload may be.

    A value nested too deep is refused before its field sees it: DRF's fields call str()
    or json.dumps() on what they are given, and those recurse.
    """

    def value_problem(self, value) -> str | None:
        return payloads.depth_problem(value)


@extend_schema_field(
    {
        "type": "string",
        "format": "date-time",
        "description": "ISO 8601 with a UTC offset, e.g. 2030-01-01T09:00:00+01:00.",
    }
)
class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its UTC offset: a bare wall-clock time is ambiguous."""

    default_error_messages = {
        "naive": "Give the time with a UTC offset, e.g. 2030-01-01T09:00:00+01:00 or ...Z.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # out-of-range parts: the parent field names the problem
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        elif isinstance(value, datetime) and timezone.is_naive(value):
            self.fail("naive")
        return super().to_internal_value(value)


@extend_schema_field(OpenApiTypes.OBJECT)
class PayloadField(serializers.JSONField):
    """A JSON object; its keys are the handler's business (its schema checks them)."""

    default_error_messages = {
        "not_object": "The payload must be a JSON object.",
        "nul": "Text in the payload cannot contain the NUL character (\\u0000).",
    }

    def to_internal_value(self, data):
        # First, with an explicit stack: DRF's JSONField runs json.dumps on the value, and
        # that recursion would be a server error for a payload a few hundred levels deep.
        problem = payloads.depth_problem(data)
        if problem is not None:
            raise serializers.ValidationError(problem, code="too_deep")
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            self.fail("not_object")
        # PostgreSQL's jsonb cannot store U+0000: refuse it here rather than fail on INSERT.
        if payloads.contains_nul(value):
            self.fail("nul")
        return value


# --- Jobs -------------------------------------------------------------------------------


class JobSummarySerializer(serializers.ModelSerializer):
    """A job as listed: its definition and where it stands."""

    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    payload = PayloadField(
        required=False,
        help_text=(
            "The handler's input (its JSON Schema: GET /handlers). Fields the schema marks "
            f'writeOnly are shown as "{secrets.MASK}" (an object of them with each value so); '
            "send that mask back to keep the stored value, anything else replaces it."
        ),
    )
    run_at = AwareDateTimeField(required=False, allow_null=True)
    notify_on = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text=f"Events that send a notification: {', '.join(NOTIFY_EVENTS)}.",
    )
    notify_emails = serializers.ListField(
        child=serializers.CharField(max_length=254), required=False
    )

    class Meta:
        model = Job
        # Writable: exactly the fields the services accept. The rest is read-only.
        fields = (
            "id",
            "owner",
            *EDITABLE_FIELDS,
            "state",
            "next_run_at",
            "last_run_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("state", "next_run_at", "last_run_at")
        # Bounds of the database columns, the same on every backend; the business limits
        # (e.g. at most 100 retries) are the service's to check and explain.
        extra_kwargs = {
            "priority": {"min_value": -SMALLINT_MAX - 1, "max_value": SMALLINT_MAX},
            "max_retries": {"min_value": 0, "max_value": SMALLINT_MAX},
            "interval_seconds": {"min_value": 0, "max_value": INT_MAX},
            "retry_backoff_seconds": {"min_value": 0, "max_value": INT_MAX},
            "timeout_seconds": {"min_value": 0, "max_value": INT_MAX},
            "notify_digest_minutes": {"min_value": 0, "max_value": INT_MAX},
            "concurrency_limit": {"min_value": 0, "max_value": SMALLINT_MAX},
            "notify_webhook_secret": {"write_only": True},
        }

    def to_representation(self, job: Job) -> dict:
        data = super().to_representation(job)
        if "payload" in data:
            data["payload"] = secrets.masked(job.handler, data["payload"])
        return data


class JobSerializer(StrictFieldsMixin, JobSummarySerializer):
    """A job in full, with its next few runs. Create, replace and update take this shape."""

    upcoming_runs = serializers.SerializerMethodField(
        help_text=f"The next {schedules.UPCOMING_RUNS} times the job will run "
        "(empty unless active)."
    )

    class Meta(JobSummarySerializer.Meta):
        fields = (*JobSummarySerializer.Meta.fields, "upcoming_runs")

    def validate(self, attrs: dict) -> dict:
        # A client that read the job (secrets masked) and sends it back keeps the secrets.
        job = self.instance
        if job is not None and "payload" in attrs:
            attrs["payload"] = secrets.restored(
                attrs.get("handler", job.handler),
                attrs["payload"],
                stored_handler=job.handler,
                stored=job.payload,
            )
        return attrs

    @extend_schema_field(serializers.ListField(child=serializers.DateTimeField()))
    def get_upcoming_runs(self, job: Job) -> list[str]:
        field = serializers.DateTimeField()
        return [
            field.to_representation(t) for t in schedules.upcoming_runs(job, now=timezone.now())
        ]


class RescheduleSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new time (`run_at` alone makes it a one-time job) or a new schedule."""

    run_at = AwareDateTimeField(required=False, allow_null=True)
    schedule_type = serializers.ChoiceField(choices=ScheduleType.choices, required=False)
    interval_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    cron = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, max_length=64)


# --- Schedule preview -------------------------------------------------------------------


class SchedulePreviewRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    """A job's schedule fields, and how many of its next runs to show."""

    schedule_type = serializers.ChoiceField(choices=ScheduleType.choices)
    run_at = AwareDateTimeField(required=False, allow_null=True)
    interval_seconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=INT_MAX
    )
    cron = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    timezone = serializers.CharField(required=False, max_length=64, default="UTC")
    count = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_PREVIEW_RUNS, default=PREVIEW_RUNS
    )


class LocalDateTimeField(serializers.DateTimeField):
    """A time shown in the zone it carries (the schedule's), not in the server's."""

    def to_representation(self, value):
        return value.isoformat()


class PreviewRunSerializer(serializers.Serializer):
    at = LocalDateTimeField(help_text="In the schedule's timezone, with its offset.")
    utc_offset = serializers.CharField(help_text='"+01:00"')
    after_clock_change = serializers.BooleanField(
        help_text="The clocks change between the run before this one (or now) and this one."
    )


class SchedulePreviewSerializer(serializers.Serializer):
    description = serializers.CharField(help_text="The schedule in words.")
    timezone = serializers.CharField()
    runs = PreviewRunSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


# --- Executions -------------------------------------------------------------------------


class ExecutionSerializer(serializers.ModelSerializer):
    """One attempt of one occurrence of a job."""

    job_name = serializers.CharField(source="job.name", read_only=True)
    handler = serializers.CharField(source="job.handler", read_only=True)
    worker = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    duration_seconds = serializers.SerializerMethodField()
    result = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = Execution
        fields = (
            "id",
            "job",
            "job_name",
            "handler",
            "scheduled_for",
            "attempt",
            "state",
            "queue",
            "priority",
            "run_after",
            "worker",
            "claimed_at",
            "started_at",
            "finished_at",
            "duration_seconds",
            "cancel_requested",
            "result",
            "error",
            "created_at",
        )
        read_only_fields = fields

    def get_duration_seconds(self, execution: Execution) -> float | None:
        duration = execution.duration
        return None if duration is None else duration.total_seconds()


class BulkCountSerializer(serializers.Serializer):
    """What a bulk action over a filter changed."""

    count = serializers.IntegerField(help_text="How many of the matching rows it changed.")


class ExecutionDetailSerializer(ExecutionSerializer):
    """An attempt with the traceback of its failure, what its handler logged (up to
    EXECUTION_LOG_MAX_BYTES, then a line saying it was cut) and its progress (percent, null
    until the handler reports one)."""

    class Meta(ExecutionSerializer.Meta):
        fields = (
            *ExecutionSerializer.Meta.fields,
            "traceback",
            "log",
            "progress",
            "progress_message",
        )
        read_only_fields = fields


# --- Workers and handlers ---------------------------------------------------------------


class WorkerSerializer(serializers.ModelSerializer):
    """A `runworker` process: alive while it heartbeats within WORKER_LEASE_SECONDS."""

    status = serializers.ChoiceField(choices=WORKER_STATUSES, read_only=True)
    running = serializers.IntegerField(read_only=True, help_text="Executions it runs now.")
    queues = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = Worker
        fields = (
            "id",
            "name",
            "hostname",
            "pid",
            "queues",
            "concurrency",
            "status",
            "running",
            "started_at",
            "heartbeat_at",
            "stopped_at",
        )
        read_only_fields = fields


class HandlerSerializer(serializers.Serializer):
    """A registered handler: the name a job stores, and the JSON Schema of its payload."""

    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    schema = serializers.DictField(
        read_only=True, help_text="JSON Schema (2020-12) the payload must satisfy."
    )
    internal = serializers.BooleanField(
        read_only=True, help_text="Used by the scheduler itself; users' jobs cannot name it."
    )


# --- Stats ------------------------------------------------------------------------------


class JobCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    paused = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    total = serializers.IntegerField()


class ExecutionCountsSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Waiting to run, now or later (retries).")
    due = serializers.IntegerField(help_text="Queued and due: waiting for a free worker.")
    running = serializers.IntegerField()
    dead = serializers.IntegerField(help_text="The dead letters: out of attempts.")


class WindowSerializer(serializers.Serializer):
    window = serializers.CharField(help_text="5m, 1h or 24h.")
    seconds = serializers.IntegerField()
    since = serializers.DateTimeField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Failed attempts that were retried.")
    dead = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    finished = serializers.IntegerField(help_text="All attempts that ended in the window.")
    throughput_per_minute = serializers.FloatField()
    failure_rate = serializers.FloatField(
        allow_null=True, help_text="(failed + dead) / (succeeded + failed + dead); null if 0."
    )


class StatsSerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField()
    jobs = JobCountsSerializer()
    executions = ExecutionCountsSerializer()
    windows = WindowSerializer(many=True)
