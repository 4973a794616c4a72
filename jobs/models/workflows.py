"""Workflows: one-time jobs of one owner with dependencies between them (a directed acyclic
graph).

A step is a one-time Job. A step with unmet dependencies has no execution at all (it costs
the claim nothing); `pending` counts its unmet dependencies, and the transaction that records
the outcome of its last one queues its first execution (jobs.engine.workflows). Each edge is
met at most once (`satisfied`), so a retried step never counts twice. The workflow's state
follows from its steps' jobs (`WorkflowQuerySet.with_state`, `workflow_state`): nothing is
written to the workflow row while it runs, so a fan-in of many steps has no hot row but its
own step's.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Count, Q
from django.utils.timezone import now as utcnow
from django.utils.translation import gettext_lazy as _


class WorkflowState(models.TextChoices):
    # Some step has not finished (waiting, queued, running, or retrying).
    RUNNING = "running", _("Running")
    # Every step's job completed. (A step left dead makes the workflow failed, even with
    # on_failure=continue: the rest ran, but something did not.)
    SUCCEEDED = "succeeded", _("Succeeded")
    # Every step finished and some step's run was dead-lettered.
    FAILED = "failed", _("Failed")
    # Every step finished, some cancelled (the workflow or a step was cancelled), none dead.
    CANCELLED = "cancelled", _("Cancelled")


class OnFailure(models.TextChoices):
    # The steps after a dead step end cancelled (transitively).
    CANCEL = "cancel", _("Cancel the steps after it")
    # The steps after a dead step run as if it had succeeded.
    CONTINUE = "continue", _("Continue as if it succeeded")


# The step job states the workflow state is derived from (jobs.states.JobState values).
_UNFINISHED = ("active", "paused")


class WorkflowQuerySet(models.QuerySet):
    def with_state(self):
        """Annotate `unfinished`, `failed_steps`, `cancelled_steps` and `step_count`: what
        workflow_state reads."""
        return self.annotate(
            step_count=Count("steps"),
            unfinished=Count("steps", filter=Q(steps__job__state__in=_UNFINISHED)),
            failed_steps=Count("steps", filter=Q(steps__job__state="failed")),
            cancelled_steps=Count("steps", filter=Q(steps__job__state="cancelled")),
        )

    def in_state(self, state: str):
        """The workflows (annotated by with_state) whose derived state is `state`."""
        qs = self.with_state()
        if state == WorkflowState.RUNNING:
            return qs.filter(unfinished__gt=0)
        done = qs.filter(unfinished=0)
        if state == WorkflowState.FAILED:
            return done.filter(failed_steps__gt=0)
        if state == WorkflowState.CANCELLED:
            return done.filter(failed_steps=0, cancelled_steps__gt=0)
        if state == WorkflowState.SUCCEEDED:
            return done.filter(failed_steps=0, cancelled_steps=0)
        return qs.none()


def workflow_state(*, unfinished: int, failed_steps: int, cancelled_steps: int) -> str:
    """The state of a workflow from the counts of its steps' jobs by state."""
    if unfinished:
        return WorkflowState.RUNNING
    if failed_steps:
        return WorkflowState.FAILED
    if cancelled_steps:
        return WorkflowState.CANCELLED
    return WorkflowState.SUCCEEDED


class Workflow(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="workflows",
        help_text="Empty for the scheduler's own workflows.",
    )
    name = models.CharField(max_length=200)
    # Set by a cancel: a retried step then resumes nothing after it.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=utcnow, editable=False)

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="workflow_owner_created_idx")]

    def __str__(self):
        return self.name

    @property
    def state(self) -> str:
        """The derived state; read from with_state()'s annotations when present."""
        if not hasattr(self, "unfinished"):
            counts = (
                Workflow.objects.with_state()
                .filter(pk=self.pk)
                .values("unfinished", "failed_steps", "cancelled_steps")
            )
            return workflow_state(**counts.get())
        return workflow_state(
            unfinished=self.unfinished,
            failed_steps=self.failed_steps,
            cancelled_steps=self.cancelled_steps,
        )


class WorkflowStep(models.Model):
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="steps")
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="workflow_step")
    name = models.CharField(max_length=200)
    on_failure = models.CharField(
        max_length=10, choices=OnFailure.choices, default=OnFailure.CANCEL
    )
    # Dependencies not yet met; the engine queues the first run when it reaches 0.
    pending = models.PositiveIntegerField(default=0)
    # The longest path from a step without dependencies: the order locks are taken in.
    depth = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["depth", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "name"], name="workflow_step_unique_name")
        ]

    def __str__(self):
        return self.name


class WorkflowDependency(models.Model):
    """`step` runs after `depends_on`."""

    step = models.ForeignKey(WorkflowStep, on_delete=models.CASCADE, related_name="upstream")
    depends_on = models.ForeignKey(
        WorkflowStep, on_delete=models.CASCADE, related_name="downstream"
    )
    # Met: depends_on succeeded (or died with on_failure=continue). Set once, by the engine.
    satisfied = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["step", "depends_on"], name="workflow_dependency_unique"
            ),
            models.CheckConstraint(
                name="workflow_dependency_not_self", condition=~Q(step=models.F("depends_on"))
            ),
        ]
        # The engine reads the edges out of a finished step: depends_on's FK index.

    def __str__(self):
        return f"{self.depends_on_id} -> {self.step_id}"
