"""Jobs (definitions), executions (the attempts workers claim), workers and the audit trail;
queues and their limits in jobs.models.queues."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Now
from django.utils.timezone import now as utcnow

from .. import conf
from ..states import ErrorCode, ExecutionState, JobState, MisfirePolicy, ScheduleType

DEFAULT_QUEUE = "default"
# The fields a job's schedule is made of (jobs.schedules.Schedule reads these).
SCHEDULE_FIELDS = ("schedule_type", "run_at", "interval_seconds", "cron", "timezone")
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_BACKOFF_SECONDS = 10
# The bounds of PostgreSQL's smallint and integer columns, which forms and serializers
# check so that an out-of-range number is a field error, not a database error.
SMALLINT_MAX = 2**15 - 1
INT_MAX = 2**31 - 1


class JobQuerySet(models.QuerySet):
    def due(self, *, now):
        """Active jobs whose next occurrence has come."""
        return self.filter(state=JobState.ACTIVE, next_run_at__lte=now)


class Job(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="jobs",
        help_text="Empty for jobs enqueued by the system.",
        # job_owner_created_idx leads with the owner: a second index would only slow inserts.
        db_index=False,
    )
    name = models.CharField(max_length=200)
    handler = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)

    schedule_type = models.CharField(
        max_length=10, choices=ScheduleType.choices, default=ScheduleType.ONCE
    )
    run_at = models.DateTimeField(null=True, blank=True)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    cron = models.CharField(max_length=200, blank=True, default="")
    timezone = models.CharField(max_length=64, default="UTC")

    queue = models.CharField(max_length=100, default=DEFAULT_QUEUE)
    priority = models.SmallIntegerField(default=0, help_text="Higher runs first.")
    max_retries = models.PositiveSmallIntegerField(default=DEFAULT_MAX_RETRIES)
    retry_backoff_seconds = models.PositiveIntegerField(default=DEFAULT_RETRY_BACKOFF_SECONDS)
    timeout_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Empty: the JOB_DEFAULT_TIMEOUT_SECONDS setting."
    )
    misfire_policy = models.CharField(
        max_length=10, choices=MisfirePolicy.choices, default=MisfirePolicy.RUN_ONCE
    )
    # NULL, not "", for "no key": the partial unique constraint ignores NULLs.
    unique_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    # At most concurrency_limit runs at once across the fleet among jobs sharing the key.
    concurrency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    concurrency_limit = models.PositiveSmallIntegerField(null=True, blank=True)

    # Notifications: which events (success, failure, dead, recovered) go where.
    notify_on = models.JSONField(default=list, blank=True)
    notify_emails = models.JSONField(default=list, blank=True)
    notify_webhook_url = models.URLField(max_length=500, blank=True, default="")
    notify_webhook_secret = models.CharField(
        max_length=200, blank=True, default="", help_text="Signs webhook events (HMAC-SHA256)."
    )
    notify_digest_minutes = models.PositiveIntegerField(
        default=15, help_text="At most one failure email per this many minutes (0: every one)."
    )
    last_failure_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The OpenTelemetry context of whatever created the job (W3C traceparent and tracestate),
    # which its runs continue (jobs.tracing); {} when tracing is off or nothing was traced.
    trace_context = models.JSONField(default=dict, db_default={}, blank=True, editable=False)

    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.ACTIVE)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=utcnow, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Materialisation: active jobs by next_run_at.
            models.Index(
                fields=["next_run_at"],
                name="job_due_idx",
                condition=Q(state=JobState.ACTIVE),
            ),
            models.Index(fields=["owner", "-created_at"], name="job_owner_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                name="job_once_has_run_at",
                condition=~Q(schedule_type=ScheduleType.ONCE) | Q(run_at__isnull=False),
            ),
            models.CheckConstraint(
                name="job_interval_has_interval",
                condition=~Q(schedule_type=ScheduleType.INTERVAL) | Q(interval_seconds__gte=1),
            ),
            models.CheckConstraint(
                name="job_cron_has_cron",
                condition=~Q(schedule_type=ScheduleType.CRON) | ~Q(cron=""),
            ),
            models.CheckConstraint(name="job_state_valid", condition=Q(state__in=JobState.values)),
            models.CheckConstraint(
                name="job_concurrency_key_has_limit",
                condition=Q(concurrency_key__isnull=True)
                | Q(concurrency_limit__isnull=False, concurrency_limit__gte=1),
            ),
            # While a job is not finished, its unique key admits no second job.
            models.UniqueConstraint(
                fields=["unique_key"],
                name="job_unique_key_while_pending",
                condition=Q(unique_key__isnull=False)
                & Q(state__in=[JobState.ACTIVE, JobState.PAUSED]),
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_one_time(self) -> bool:
        return self.schedule_type == ScheduleType.ONCE

    @property
    def effective_timeout(self) -> int:
        return self.timeout_seconds or conf.JOB_DEFAULT_TIMEOUT_SECONDS


class ExecutionQuerySet(models.QuerySet):
    def due(self, *, queues, now):
        """Queued executions of `queues` that may start, in claim order."""
        return self.filter(
            state=ExecutionState.QUEUED, queue__in=queues, run_after__lte=now
        ).order_by("-priority", "run_after", "id")

    def held_by_stale_workers(self, *, before):
        """Running executions whose worker last heartbeat before `before`, or has stopped."""
        return self.filter(state=ExecutionState.RUNNING).filter(
            Q(worker__heartbeat_at__lt=before)
            | Q(worker__stopped_at__isnull=False)
            | Q(worker__isnull=True)
        )


class Execution(models.Model):
    # No index of its own: execution_unique_attempt leads with the job.
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="executions", db_index=False
    )
    scheduled_for = models.DateTimeField(help_text="The occurrence this attempt belongs to.")
    attempt = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(
        max_length=10, choices=ExecutionState.choices, default=ExecutionState.QUEUED
    )
    # Copied from the job so the claim reads one table through one index.
    queue = models.CharField(max_length=100, default=DEFAULT_QUEUE)
    priority = models.SmallIntegerField(default=0)
    concurrency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    concurrency_limit = models.PositiveSmallIntegerField(null=True, blank=True)
    run_after = models.DateTimeField(default=utcnow)

    worker = models.ForeignKey(
        "Worker", on_delete=models.SET_NULL, null=True, blank=True, related_name="executions"
    )
    # A worker may claim an execution ahead of a free slot (jobs.worker.ahead): claimed_at is
    # when it took the row, started_at when its handler began.
    claimed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    # A database default too: rows written by SQL that predates the column get "" as well.
    error_code = models.CharField(
        max_length=20,
        choices=ErrorCode.choices,
        blank=True,
        default=ErrorCode.NONE,
        db_default=ErrorCode.NONE,
    )
    traceback = models.TextField(blank=True, default="")
    # What the handler logged and how far it got (jobs.worker.run_log); database defaults,
    # as the engine's SQL writes rows without naming these columns.
    log = models.TextField(blank=True, default="", db_default="")
    progress = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Percent done.")
    progress_message = models.CharField(max_length=200, blank=True, default="", db_default="")
    # The traceparent of the run span of this occurrence's first attempt, which the spans of
    # its retries link to (jobs.tracing); written when an attempt fails, copied to its retry.
    trace_link = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )
    created_at = models.DateTimeField(default=utcnow, editable=False)

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The claim: queued rows of a queue without a concurrency key, highest priority
            # then oldest first. Keyed rows are not in it: those behind a full key cost the
            # claim of the others nothing.
            models.Index(
                "queue",
                models.F("priority").desc(),
                "run_after",
                "id",
                name="execution_claim_idx",
                condition=Q(state=ExecutionState.QUEUED, concurrency_key__isnull=True),
            ),
            # The claim of keyed rows: each key's own, in claim order, reached key by key.
            models.Index(
                "queue",
                "concurrency_key",
                models.F("priority").desc(),
                "run_after",
                "id",
                name="execution_claim_keyed_idx",
                condition=Q(state=ExecutionState.QUEUED, concurrency_key__isnull=False),
            ),
            # Rescue: what each worker holds.
            models.Index(
                fields=["worker"],
                name="execution_running_idx",
                condition=Q(state=ExecutionState.RUNNING),
            ),
            # Limits: what runs now in each queue, and under each key.
            models.Index(
                fields=["queue", "concurrency_key"],
                name="execution_running_queue_idx",
                condition=Q(state=ExecutionState.RUNNING),
            ),
            models.Index(
                fields=["concurrency_key"],
                name="execution_running_key_idx",
                condition=Q(state=ExecutionState.RUNNING, concurrency_key__isnull=False),
            ),
            # History by state and end, with the job: a user's dead letters counted in it.
            models.Index(
                fields=["state", "-finished_at"],
                include=["job"],
                name="execution_state_finished_idx",
            ),
            models.Index(fields=["-created_at"], name="execution_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "scheduled_for", "attempt"], name="execution_unique_attempt"
            ),
            models.CheckConstraint(name="execution_attempt_positive", condition=Q(attempt__gte=1)),
            models.CheckConstraint(
                name="execution_state_valid", condition=Q(state__in=ExecutionState.values)
            ),
            models.CheckConstraint(
                name="execution_running_has_start",
                condition=~Q(state=ExecutionState.RUNNING) | Q(started_at__isnull=False),
            ),
            models.CheckConstraint(
                name="execution_finished_has_end",
                condition=Q(state__in=[ExecutionState.QUEUED, ExecutionState.RUNNING])
                | Q(finished_at__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.job_id} @ {self.scheduled_for:%Y-%m-%d %H:%M:%S} #{self.attempt}"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class WorkerQuerySet(models.QuerySet):
    def alive(self, *, now=None):
        """Workers that have not stopped and heartbeat within the lease.

        Without `now`, by the database's clock, the one heartbeats are written with.
        """
        lease = timedelta(seconds=conf.WORKER_LEASE_SECONDS)
        return self.filter(stopped_at__isnull=True, heartbeat_at__gte=(now or Now()) - lease)

    def with_running(self):
        """Annotate `running`: how many executions each worker holds now."""
        # A correlated count over the partial index of running rows: a join with all of a
        # worker's executions would read its whole history.
        held = (
            Execution.objects.filter(worker=OuterRef("pk"), state=ExecutionState.RUNNING)
            .order_by()
            .values("worker")
            .annotate(n=models.Count("pk"))
            .values("n")
        )
        return self.annotate(running=Coalesce(Subquery(held), 0))


class Worker(models.Model):
    name = models.CharField(max_length=200)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = models.JSONField(default=list)
    # The handlers it has, and so claims (a worker of another release may have fewer).
    handlers = models.JSONField(default=list, db_default=[])
    concurrency = models.PositiveSmallIntegerField(default=1)
    started_at = models.DateTimeField(default=utcnow)
    heartbeat_at = models.DateTimeField(default=utcnow)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Handler threads whose run timed out and that still run, as of the last heartbeat.
    abandoned_threads = models.PositiveIntegerField(default=0, db_default=0)

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["stopped_at", "heartbeat_at"], name="worker_alive_idx")]

    def __str__(self):
        return self.name

    @property
    def status(self) -> str:
        if self.stopped_at:
            return "stopped"
        lease = timedelta(seconds=conf.WORKER_LEASE_SECONDS)
        return "alive" if self.heartbeat_at >= utcnow() - lease else "stale"


from .audit import AUDIT_EVENT_FIELDS, AuditEvent  # noqa: E402 - the app's other models
from .queues import Queue, QueueState  # noqa: E402
from .workflows import Workflow, WorkflowDependency, WorkflowStep  # noqa: E402

__all__ = [
    "AUDIT_EVENT_FIELDS",
    "DEFAULT_QUEUE",
    "INT_MAX",
    "SCHEDULE_FIELDS",
    "SMALLINT_MAX",
    "AuditEvent",
    "Execution",
    "Job",
    "Queue",
    "QueueState",
    "Worker",
    "Workflow",
    "WorkflowDependency",
    "WorkflowStep",
]
