"""The operations on jobs, one function per transition.

The API, the admin, the command line and in-process code all call these; no rule about what
may change lives anywhere else. A forbidden change raises InvalidTransition, bad fields raise
ValidationError with field -> messages. Writes go through the ORM on Django's connection to
the scheduler's database (so they join the caller's transaction there: the application's
own, unless SCHEDULER_DATABASE_URL gives the scheduler a database of its own), except
creation, which is the engine's enqueue statement.
"""

from contextlib import nullcontext
from datetime import datetime
from uuid import UUID, uuid4

from django.db.models import Case, F, Q, TextField, Value, When
from django.utils import timezone

from .. import audit, database, engine, quotas, schedules, signals, tracing
from ..engine import wakeup
from ..exceptions import InvalidTransition, ValidationError
from ..models import SCHEDULE_FIELDS, Execution, Job
from ..registry import get_handler
from ..states import (
    EXECUTION_ACTIONS,
    FINISHED_JOB_STATES,
    JOB_ACTIONS,
    ExecutionState,
    JobState,
    ScheduleType,
    job_sources,
)
from .cancelling import CANCEL_AT_ONCE, UNFINISHED, steps_after_cancel
from .deadlocks import retried_on_deadlock
from .validation import (
    EDITABLE_FIELDS,
    job_validate,
    payload_json,
    payload_problems,
    refuse_editing_internal,
    refuse_internal,
)

AUDITED_FIELDS = (*EDITABLE_FIELDS, "state")


def _first_run_at(job: Job, *, now: datetime) -> datetime | None:
    """Return the first occurrence of `job`'s schedule from `now` on."""
    if job.schedule_type == ScheduleType.ONCE:
        # A one-time job set in the past runs as soon as a worker sees it.
        return job.run_at
    return schedules.next_after(schedules.Schedule.of(job), now)


def _queue_if_due(job: Job, *, now: datetime) -> None:
    """Materialise a saved `job` straight away when it is already due (no worker round trip)."""
    if job.state == JobState.ACTIVE and job.next_run_at and job.next_run_at <= now:
        with database.cursor() as cursor:
            engine.job_queue_due(cursor, job, now=now)


# --- Jobs -------------------------------------------------------------------------------


def job_create(*, owner=None, unique_key: str | None = None, **fields) -> Job:
    """Create a job from its definition; it runs at its first occurrence."""
    fields = job_validate({**_defaults(fields), **fields})
    refuse_internal(fields["handler"], owner)
    quotas.check_definition(owner, fields)
    now = timezone.now()
    job = Job(
        owner=owner,
        unique_key=unique_key,
        state=JobState.ACTIVE,
        **fields,
        trace_context=tracing.current_context(),
    )
    job.next_run_at = _first_run_at(job, now=now)
    # Due already (the usual "run this now"): plan the first run before the INSERT, so the
    # job is written once, beside its execution.
    due = job.next_run_at is not None and job.next_run_at <= now
    runs = [(job, when) for when in engine.occurrences_due(job, now=now)] if due else []
    changes = audit.diff({}, audit.snapshot(job, AUDITED_FIELDS))
    with _counting(owner):
        _check_counts(owner, [fields["payload"]], handler=fields["handler"])
        with database.cursor() as cursor:
            engine.jobs_insert(cursor, [job], runs, now=now, changes=changes)
    return job


def _counting(owner):
    """The transaction a quota's count and the insert it allows share; none for owners
    without quotas (the scheduler's, staff), whose enqueue stays one statement."""
    return database.atomic() if quotas.applies_to(owner) else nullcontext()


def _check_counts(owner, payloads: list[dict], *, handler: str) -> None:
    """Refuse new unfinished jobs past the owner's quotas (inside the writing transaction)."""
    quotas.check_emails(owner, handler=handler, payloads=payloads)
    quotas.check_active_jobs(owner, adding=len(payloads))


def _defaults(given: dict) -> dict:
    """The model's defaults of the editable fields; refuses a field that is not one."""
    unknown = set(given) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    return {f.name: f.get_default() for f in Job._meta.concrete_fields if f.name in EDITABLE_FIELDS}


def _audit(job: Job, action: str, changes: dict | None = None) -> None:
    audit.record(
        action=action,
        object_type="job",
        object_id=job.pk,
        owner_id=job.owner_id,
        changes=changes,
    )


def jobs_create_many(
    *,
    handler: str,
    payloads: list[dict],
    owner=None,
    name: str | None = None,
    run_at: datetime | None = None,
    **fields,
) -> list[UUID]:
    """Create one one-time job of `handler` per payload; return their ids, in order.

    Every payload is validated as job_create would; one bad payload refuses the whole batch,
    with the errors keyed by its index. The rows are streamed (engine.jobs_copy), each job
    audited, all in one transaction (a savepoint inside the caller's).
    """
    if not payloads:
        return []
    now = timezone.now()
    shared = {
        "name": name or handler,
        "handler": handler,
        "schedule_type": ScheduleType.ONCE,
        "run_at": run_at or now,
        **fields,
    }
    # The shared fields once, with the first payload; then each payload on its own.
    payloads = [{} if payload is None else payload for payload in payloads]
    base = job_validate({**_defaults(shared), **shared, "payload": payloads[0]})
    handler_of = get_handler(handler)
    texts, errors = [], {}
    for index, payload in enumerate(payloads):
        text = payload_json(payload)
        problems = payload_problems(handler_of, payload, text=text) if index else []
        if problems:
            errors[f"payloads[{index}]"] = problems
        texts.append(text)
    if errors:
        raise ValidationError(errors)
    quotas.check_definition(owner, base)
    template = Job(
        owner=owner, state=JobState.ACTIVE, **base, trace_context=tracing.current_context()
    )
    template.next_run_at = template.run_at
    due = template.run_at <= now
    runs_at = engine.occurrences_due(template, now=now) if due else []
    ids = [uuid4() for _ in payloads]
    changes = {"handler": [None, handler], "count": [None, len(ids)]}
    with database.atomic():
        _check_counts(owner, payloads, handler=handler)
        with database.cursor() as cursor:
            engine.jobs_copy(
                cursor, template, ids, texts, runs_at=runs_at, now=now, changes=changes
            )
    return ids


@retried_on_deadlock
def job_update(*, job: Job, **changes) -> Job:
    """Change a job's definition; a schedule change recomputes next_run_at."""
    return _job_update(job, changes, action="edit")


def _job_update(job: Job, changes: dict, *, action: str) -> Job:
    _defaults(changes)  # refuses unknown fields
    now = timezone.now()
    with database.atomic():
        # Edit the row as it is now, locked until commit, and write only what this edit
        # changes: concurrent edits wait for each other and none undoes another's fields.
        lock_job(job, action)
        refuse_editing_internal(job)
        current = {name: getattr(job, name) for name in EDITABLE_FIELDS}
        before = audit.snapshot(job, AUDITED_FIELDS)
        fields = job_validate({**current, **changes})
        if fields["handler"] != current["handler"]:
            refuse_internal(fields["handler"], job.owner)
        update_fields = [name for name in EDITABLE_FIELDS if fields[name] != current[name]]
        schedule_changed = bool(set(update_fields) & set(SCHEDULE_FIELDS))
        quotas.check_definition(job.owner_id, fields, changed=update_fields)
        if schedule_changed and job.state in FINISHED_JOB_STATES:
            # A finished job made active again counts, and may send again.
            _check_counts(job.owner_id, [fields["payload"]], handler=fields["handler"])
        for name in update_fields:
            setattr(job, name, fields[name])
        if schedule_changed:
            if job.state in FINISHED_JOB_STATES:
                transition_job(job, JobState.ACTIVE, action="reschedule")
            if current["schedule_type"] == ScheduleType.ONCE and (
                job.schedule_type != ScheduleType.ONCE or job.run_at != current["run_at"]
            ):
                _cancel_queued_run(job, scheduled_for=current["run_at"], now=now)
            job.next_run_at = _first_run_at(job, now=now)
            update_fields.append("next_run_at")
        if update_fields:
            job.save(update_fields=[*update_fields, "updated_at"])
        if schedule_changed:
            _queue_if_due(job, now=now)
            wakeup.schedule_changed(job.queue)
        changed = audit.diff(before, audit.snapshot(job, AUDITED_FIELDS))
        if changed:
            _audit(job, action, changed)
    return job


def _cancel_queued_run(job: Job, *, scheduled_for, now: datetime) -> None:
    """Cancel the queued run of a one-time job's old time: the run moves to the new one.

    Only what no worker holds is cancelled (a conditional UPDATE); a run already started
    finishes, but as the old time's run it does not complete the job.
    """
    job.executions.filter(state__in=CANCEL_AT_ONCE, scheduled_for=scheduled_for).update(
        state=ExecutionState.CANCELLED, finished_at=now, error="Rescheduled."
    )


def job_reschedule(*, job: Job, **schedule) -> Job:
    """Give a job a new time or schedule; a finished one-time job becomes active again."""
    bad = set(schedule) - set(SCHEDULE_FIELDS)
    if bad:
        raise ValidationError({name: ["Not a schedule field."] for name in sorted(bad)})
    if not schedule:
        raise ValidationError({"run_at": ["Give run_at or new schedule fields."]})
    if "run_at" in schedule and "schedule_type" not in schedule:
        # A bare new time makes it a one-time job, the common "move this run" request.
        schedule = {
            "schedule_type": ScheduleType.ONCE,
            "interval_seconds": None,
            "cron": "",
            **schedule,
        }
    elif "schedule_type" in schedule:
        # Clear the fields of the old type that the new one does not use.
        cleared = {"run_at": None, "interval_seconds": None, "cron": ""}
        schedule = {**cleared, **schedule}
    return _job_update(job, schedule, action="reschedule")


def refused(job: Job, action: str, *, obj: str = "job") -> InvalidTransition:
    """The error for `action` refused by the database: it names the job's state there."""
    current = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
    return InvalidTransition(obj=obj, state=current or "deleted", action=action)


def lock_job(job: Job, action: str, *, obj: str = "job") -> Job:
    """Lock `job`'s row until commit and reload it, if its state there allows `action`.

    The check reads the locked row, not the caller's copy: a cancel that committed since
    the caller read the job is seen here, and one not yet committed waits for this
    transaction (and then cancels what it queued).
    """
    locked = Job.objects.select_for_update().filter(state__in=JOB_ACTIONS[action])
    try:
        job.refresh_from_db(from_queryset=locked)
    except Job.DoesNotExist:
        raise refused(job, action, obj=obj) from None
    return job


def transition_job(job: Job, target: str, *, action: str, **extra) -> Job:
    """Move `job` to `target` if its current state allows `action` (a conditional UPDATE)."""
    updated = Job.objects.filter(pk=job.pk, state__in=job_sources(target, action)).update(
        state=target, updated_at=timezone.now(), **extra
    )
    if not updated:
        raise refused(job, action)
    before, job.state = job.state, target
    for name, value in extra.items():
        setattr(job, name, value)
    signals.send_after_commit(signals.job_state_changed, Job, job=job, before=before, after=target)
    return job


def _transition_audited(job: Job, target: str, *, action: str, **extra) -> Job:
    with database.atomic():
        before = job.state
        transition_job(job, target, action=action, **extra)
        _audit(job, action, {"state": [before, target]})
    return job


def job_pause(*, job: Job) -> Job:
    """Stop materialising new occurrences of `job` until it is resumed."""
    return _transition_audited(job, JobState.PAUSED, action="pause")


@retried_on_deadlock
def job_resume(*, job: Job) -> Job:
    """Make a paused job active again, from its next occurrence after now."""
    # No check here: the conditional UPDATE in _transition_job is the one that counts.
    now = timezone.now()
    with database.atomic():
        job.refresh_from_db()
        pending = (
            job.schedule_type == ScheduleType.ONCE
            and job.executions.filter(scheduled_for=job.run_at).exists()
        )
        # A one-time job whose run was already queued keeps waiting on it.
        next_run_at = None if pending else _first_run_at(job, now=now)
        _transition_audited(job, JobState.ACTIVE, action="resume", next_run_at=next_run_at)
        # A paused job counted already as unfinished; running again, it may send mail.
        quotas.check_emails(job.owner_id, handler=job.handler, payloads=[job.payload])
        _queue_if_due(job, now=now)
        wakeup.schedule_changed(job.queue)
    return job


@retried_on_deadlock
def job_cancel(*, job: Job) -> Job:
    """Stop `job` for good: queued runs are cancelled, running ones asked to stop."""
    now = timezone.now()
    with database.atomic():
        _transition_audited(job, JobState.CANCELLED, action="cancel", next_run_at=None)
        # One UPDATE for both kinds: a row a worker claims or releases meanwhile is
        # re-read once that commits, so it is cancelled or asked to stop, never missed.
        at_once = Q(state__in=CANCEL_AT_ONCE)
        job.executions.filter(state__in=EXECUTION_ACTIONS["cancel"]).update(
            state=Case(When(at_once, then=Value(ExecutionState.CANCELLED)), default=F("state")),
            finished_at=Case(When(at_once, then=Value(now)), default=F("finished_at")),
            error=Case(
                When(at_once, then=Value("Job cancelled.")),
                default=F("error"),
                output_field=TextField(),
            ),
            cancel_requested=True,
        )
        # The steps waiting on this one would wait for ever: they are cancelled with it.
        steps_after_cancel(job=job, reason="cancelled")
    return job


@retried_on_deadlock
def job_trigger(*, job: Job) -> Execution:
    """Queue a run of `job` now, leaving its schedule as it is."""
    now = timezone.now()
    with database.atomic():
        # A conditional UPDATE checks the state in the database and holds the row until
        # commit: a cancel that committed first refuses this trigger, a later one waits and
        # then cancels the run queued here.
        allowed = Job.objects.filter(pk=job.pk, state__in=JOB_ACTIONS["trigger"])
        if not allowed.update(last_run_at=now):
            raise refused(job, "trigger")
        quotas.check_emails(job.owner_id, handler=job.handler, payloads=[job.payload])
        execution = Execution.objects.create(
            job=job,
            scheduled_for=now,
            queue=job.queue,
            priority=job.priority,
            concurrency_key=job.concurrency_key,
            concurrency_limit=job.concurrency_limit,
            run_after=now,
            created_at=now,
        )
        wakeup.queued(job.queue)
        _audit(job, "trigger", {"execution": [None, execution.pk]})
    return execution


def job_delete(*, job: Job) -> None:
    """Delete `job` and its history; a running attempt finishes but its outcome is dropped."""
    with database.atomic():
        _audit(job, "delete", audit.diff(audit.snapshot(job, AUDITED_FIELDS), {}))
        # The steps waiting on this one would wait for ever: they are cancelled first (a
        # finished step's have been released or cancelled already).
        if Job.objects.filter(pk=job.pk, state__in=UNFINISHED).exists():
            steps_after_cancel(job=job, reason="deleted")
        job.delete()
