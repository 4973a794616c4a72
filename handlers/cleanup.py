"""The built-in `cleanup` handler: retention of finished history.

The system's job (no owner, created by `manage.py ensure_cleanup_job`) makes the history
partitions ahead of need, and drops each month of executions whose last day is older than
the cutoff, and each month of audit events older than AUDIT_RETENTION_DAYS when that is set
(jobs.partitions): whole tables, no mass DELETE. History is so kept for between
retention_days and retention_days plus a month. The few executions of such a month still in
use (queued, running, or finished since the cutoff) are handed to the default partition
first.

What no month holds (the default partition: those, and a backfill older than the oldest
month) is deleted row by row: executions that finished (succeeded, failed, dead, cancelled)
before the cutoff. So is a cleanup job with an owner's, which cleans only that owner's
executions wherever they are. Then one-time jobs that finished (completed, failed,
cancelled) before the cutoff and have nothing recent or unfinished left go. Each batch locks
its rows with `FOR UPDATE SKIP LOCKED` and commits at once, so workers and the API never wait
on a long delete, and a row some other transaction holds is simply left for the next run.
Queued and running executions, and active or paused jobs, are never deleted.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from jobs import conf, database, partitions
from jobs.states import FINISHED_EXECUTION_STATES, JobState, ScheduleType

from .registry import register

DEFAULT_BATCH_SIZE = 500  # rows per transaction
MAX_BATCH_SIZE = 10_000
FINISHED_JOB_STATES = (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)

SCHEMA = {
    "type": "object",
    "properties": {
        "retention_days": {"type": "integer", "minimum": 1, "maximum": 36500},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH_SIZE},
        "max_batches": {"type": "integer", "minimum": 1},
        "pause_seconds": {"type": "number", "minimum": 0, "maximum": 60},
        "audit_retention_days": {"type": "integer", "minimum": 1, "maximum": 36500},
    },
    "additionalProperties": False,
}


@register(
    "cleanup",
    description=(
        "Drop months of finished executions older than retention_days (default "
        "CLEANUP_RETENTION_DAYS) and of audit events older than audit_retention_days (default "
        "AUDIT_RETENTION_DAYS; 0 keeps them all); delete finished one-time jobs as old, in small "
        "batches. Unfinished rows are never deleted; a job with an owner cleans only its "
        "owner's executions."
    ),
    schema=SCHEMA,
)
def cleanup(payload, ctx):
    retention_days = payload.get("retention_days", conf.CLEANUP_RETENTION_DAYS)
    cutoff = timezone.now() - timedelta(days=retention_days)
    pause = payload.get("pause_seconds", 0)

    def between_batches():
        # Cancellation stops the run between batches; what was deleted stays deleted.
        if pause:
            ctx.sleep(pause)
        ctx.raise_if_cancelled()

    dropped = {}
    if ctx.job.owner_id is None:
        audit_days = payload.get("audit_retention_days", conf.AUDIT_RETENTION_DAYS)
        partitions.ensure()
        dropped = partitions.drop_expired(
            executions_before=cutoff,
            audit_before=timezone.now() - timedelta(days=audit_days) if audit_days else None,
        )
    result = purge(
        cutoff=cutoff,
        owner_id=ctx.job.owner_id,
        batch_size=payload.get("batch_size", DEFAULT_BATCH_SIZE),
        max_batches=payload.get("max_batches"),
        between_batches=between_batches,
    )
    ctx.logger.info(
        "Cleanup done cutoff=%s executions=%s jobs=%s partitions_dropped=%s",
        result["cutoff"],
        result["executions_deleted"],
        result["jobs_deleted"],
        ",".join(dropped.get("partitions_dropped", [])) or "-",
    )
    return {"retention_days": retention_days, **result, **dropped}


def purge(
    *,
    cutoff,
    owner_id: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    between_batches=None,
) -> dict:
    """Delete finished executions, then finished one-time jobs, older than `cutoff`: for an
    owner, theirs anywhere; for the system, the executions no month partition holds (the
    months are dropped whole by jobs.partitions.drop_expired)."""
    from jobs.models import Execution, Job

    executions = Execution.objects.filter(
        state__in=FINISHED_EXECUTION_STATES, finished_at__lt=cutoff
    )
    if owner_id is None:
        executions = executions.filter(partitions.outside_months("jobs_execution"))
    # Something recent or unfinished keeps its job: the job is still in use or in view.
    keeps_job = Execution.objects.filter(job=OuterRef("pk")).filter(
        ~Q(state__in=FINISHED_EXECUTION_STATES) | Q(finished_at__gte=cutoff)
    )
    jobs = Job.objects.filter(
        schedule_type=ScheduleType.ONCE, state__in=FINISHED_JOB_STATES, updated_at__lt=cutoff
    ).exclude(Exists(keeps_job))
    if owner_id is not None:
        executions = executions.filter(job__owner_id=owner_id)
        jobs = jobs.filter(owner_id=owner_id)

    batches = 0
    counts = {"executions": 0, "jobs": 0}
    complete = True
    for kind, queryset, model in (("executions", executions, Execution), ("jobs", jobs, Job)):
        while True:
            if max_batches is not None and batches >= max_batches:
                complete = False
                break
            deleted = _delete_batch(queryset, model, batch_size)
            if not deleted:
                break
            batches += 1
            counts[kind] += deleted
            if deleted < batch_size:
                break
            if between_batches is not None:
                between_batches()
    return {
        "cutoff": cutoff.isoformat(),
        "executions_deleted": counts["executions"],
        "jobs_deleted": counts["jobs"],
        "batches": batches,
        "complete": complete,
    }


def _delete_batch(queryset, model, batch_size: int) -> int:
    """Delete up to `batch_size` rows of `queryset` in one short transaction; return how many."""
    with database.atomic():
        # Lock only the rows to delete (not the jobs joined for the owner filter), and skip
        # rows a worker or a request holds: they are left for the next run.
        ids = list(
            queryset.select_for_update(skip_locked=True, of=("self",))
            .order_by()
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return 0
        _total, per_model = model.objects.filter(pk__in=ids).delete()
    return per_model.get(model._meta.label, 0)
