"""The scheduler's operations, one function per transition.

The API, the admin, the command line and in-process code all call these; no rule about what
may change lives anywhere else. A forbidden change raises InvalidTransition, bad fields raise
ValidationError with field -> messages.
"""

import json
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Q, TextField, Value, When
from django.utils import timezone

from handlers.registry import get_handler

from . import audit, engine, notifications, schedules, signals, statements, wakeup
from .deadlocks import retried_on_deadlock
from .exceptions import HandlerNotFound, InvalidTransition, ValidationError
from .models import SCHEDULE_FIELDS, Execution, Job
from .states import (
    EXECUTION_ACTIONS,
    FINISHED_JOB_STATES,
    HELD_EXECUTION_STATES,
    JOB_ACTIONS,
    ExecutionState,
    JobState,
    MisfirePolicy,
    ScheduleType,
    execution_sources,
    job_sources,
)

NOTIFY_FIELDS = (
    "notify_on",
    "notify_emails",
    "notify_webhook_url",
    "notify_webhook_secret",
    "notify_digest_minutes",
)
EDITABLE_FIELDS = (
    "name",
    "handler",
    "payload",
    *SCHEDULE_FIELDS,
    "queue",
    "priority",
    "max_retries",
    "retry_backoff_seconds",
    "timeout_seconds",
    "misfire_policy",
    *NOTIFY_FIELDS,
)
AUDITED_FIELDS = (*EDITABLE_FIELDS, "state")
MAX_RETRIES_LIMIT = 100
MAX_NOTIFY_EMAILS = 20
MAX_BACKOFF_BASE_SECONDS = 7 * 24 * 3600
# Cancel moves what no worker holds straight to cancelled, and only asks a holder to stop.
CANCEL_AT_ONCE = execution_sources(ExecutionState.CANCELLED, "cancel") - HELD_EXECUTION_STATES
CANCEL_BY_REQUEST = EXECUTION_ACTIONS["cancel"] & HELD_EXECUTION_STATES


# --- Validation -------------------------------------------------------------------------


def job_validate(fields: dict) -> dict:
    """Return `fields` normalised, or raise ValidationError with every problem found.

    `fields` is the whole definition (defaults filled in); the API and the admin form both
    call this, so a job is valid or not the same way everywhere.
    """
    errors: dict[str, list[str]] = {}
    fields = {**fields}
    fields["cron"] = (fields.get("cron") or "").strip()
    fields["timezone"] = fields.get("timezone") or "UTC"

    if not (fields.get("name") or "").strip():
        errors.setdefault("name", []).append("A job needs a name.")

    payload = fields.get("payload")
    if payload is None:
        payload = fields["payload"] = {}
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > settings.MAX_PAYLOAD_BYTES:
        errors.setdefault("payload", []).append(
            f"The payload is {size} bytes; the limit is {settings.MAX_PAYLOAD_BYTES} bytes."
        )
    try:
        handler = get_handler(fields.get("handler") or "")
    except HandlerNotFound as exc:
        errors.setdefault("handler", []).append(str(exc))
    else:
        if "payload" not in errors:
            problems = handler.validate(payload)
            if problems:
                errors.setdefault("payload", []).extend(problems)

    for field, message in schedules.validate(
        schedules.Schedule(
            schedule_type=fields.get("schedule_type"),
            run_at=fields.get("run_at"),
            interval_seconds=fields.get("interval_seconds"),
            cron=fields["cron"],
            timezone=fields["timezone"],
        )
    ).items():
        errors.setdefault(field, []).extend(message)

    if fields.get("misfire_policy", MisfirePolicy.RUN_ONCE) not in MisfirePolicy.values:
        errors.setdefault("misfire_policy", []).append(
            f"Must be one of: {', '.join(MisfirePolicy.values)}."
        )
    if not 0 <= (fields.get("max_retries") or 0) <= MAX_RETRIES_LIMIT:
        errors.setdefault("max_retries", []).append(f"Must be between 0 and {MAX_RETRIES_LIMIT}.")
    if not 0 <= (fields.get("retry_backoff_seconds") or 0) <= MAX_BACKOFF_BASE_SECONDS:
        errors.setdefault("retry_backoff_seconds", []).append(
            f"Must be between 0 and {MAX_BACKOFF_BASE_SECONDS} seconds."
        )
    timeout = fields.get("timeout_seconds")
    if timeout is not None and timeout < 1:
        errors.setdefault("timeout_seconds", []).append("Must be at least 1 second.")
    if not (fields.get("queue") or "default").strip():
        errors.setdefault("queue", []).append("The queue name cannot be blank.")

    _validate_notifications(fields, errors)
    if errors:
        raise ValidationError(errors)
    return fields


def _validate_notifications(fields: dict, errors: dict) -> None:
    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    events = fields.get("notify_on") or []
    if not isinstance(events, list) or any(e not in notifications.EVENTS for e in events):
        add("notify_on", f"A list of events among: {', '.join(notifications.EVENTS)}.")
    emails = fields.get("notify_emails") or []
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        add("notify_emails", "A list of email addresses.")
    else:
        if len(emails) > MAX_NOTIFY_EMAILS:
            add("notify_emails", f"At most {MAX_NOTIFY_EMAILS} addresses.")
        for address in emails:
            try:
                validate_email(address)
            except DjangoValidationError:
                add("notify_emails", f"{address!r} is not an email address.")
    url = fields.get("notify_webhook_url") or ""
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except DjangoValidationError:
            add("notify_webhook_url", "Enter an http(s) URL.")
    minutes = fields.get("notify_digest_minutes")
    if minutes is not None and not 0 <= minutes <= 24 * 60:
        add("notify_digest_minutes", "Must be between 0 and 1440 minutes.")
    if events and not (emails or url):
        add("notify_on", "Events to notify need notify_emails or notify_webhook_url.")


def _is_internal(handler: str) -> bool:
    """Whether `handler` is one of the scheduler's own (notifications, Django tasks)."""
    try:
        return get_handler(handler).internal
    except HandlerNotFound:
        return False


def _refuse_internal(handler: str, owner) -> None:
    """Internal handlers run only jobs the system made."""
    if owner is not None and _is_internal(handler):
        raise ValidationError(
            {"handler": [f"The handler {handler!r} is used by the scheduler only."]}
        )


def _refuse_editing_internal(job: Job) -> None:
    """The scheduler's own jobs (a notification to send, a Django task) are not edited: a
    changed payload would send someone else's mail or run another task. An unregistered
    handler is not refused: editing it to a known one is how such a job is repaired."""
    if _is_internal(job.handler):
        raise ValidationError(
            {
                "handler": [
                    f"Jobs of {job.handler!r} are the scheduler's own: they cannot be edited."
                ]
            }
        )


def _first_run_at(job: Job, *, now: datetime) -> datetime | None:
    """Return the first occurrence of `job`'s schedule from `now` on."""
    if job.schedule_type == ScheduleType.ONCE:
        # A one-time job set in the past runs as soon as a worker sees it.
        return job.run_at
    return schedules.next_after(schedules.Schedule.of(job), now)


def _queue_if_due(job: Job, *, now: datetime) -> None:
    """Materialise a saved `job` straight away when it is already due (no worker round trip)."""
    if job.state == JobState.ACTIVE and job.next_run_at and job.next_run_at <= now:
        engine.job_materialise(job, now=now)
        Job.objects.filter(pk=job.pk).update(
            next_run_at=job.next_run_at, last_run_at=job.last_run_at
        )


# --- Jobs -------------------------------------------------------------------------------


def job_create(*, owner=None, unique_key: str | None = None, **fields) -> Job:
    """Create a job from its definition; it runs at its first occurrence."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    defaults = {
        f.name: f.get_default() for f in Job._meta.concrete_fields if f.name in EDITABLE_FIELDS
    }
    fields = job_validate({**defaults, **fields})
    _refuse_internal(fields["handler"], owner)
    now = timezone.now()
    job = Job(owner=owner, unique_key=unique_key, state=JobState.ACTIVE, **fields)
    job.next_run_at = _first_run_at(job, now=now)
    # Due already (the usual "run this now"): plan the first run before the INSERT, so the
    # job is written once, beside its execution.
    due = job.next_run_at is not None and job.next_run_at <= now
    rows = engine.occurrences_plan(job, now=now) if due else []
    changes = audit.diff({}, audit.snapshot(job, AUDITED_FIELDS))
    _write_created([job], rows, changes=changes)
    return job


def _write_created(jobs: list[Job], rows: list[Execution], *, changes: dict) -> None:
    """Write new jobs, their due executions and one audit event each, in one statement."""
    events = audit.events(
        action="create",
        object_type="job",
        objects=[(job.pk, job.owner_id) for job in jobs],
        changes=changes,
    )
    queues = {job.queue for job in jobs}
    # Queued runs are claimed at once; a later next run is for the workers' timers.
    notify = [wakeup.payload(wakeup.QUEUED, queue) for queue in {row.queue for row in rows}]
    if any(job.next_run_at is not None for job in jobs):
        notify += [wakeup.payload(wakeup.SCHEDULE, queue) for queue in queues]
    writes = [statements.insert(jobs), *([statements.insert(rows)] if rows else [])]
    statements.write_together([*writes, statements.insert(events)], notify=notify)
    for job in jobs:
        job._state.adding, job._state.db = False, connection.alias  # as bulk_create leaves them


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
) -> list[Job]:
    """Create one one-time job of `handler` per payload, in a few statements; return them.

    Every payload is validated as job_create would; one bad payload refuses the whole batch,
    with the errors keyed by its index.
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
    unknown = set(shared) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({key: ["Unknown field."] for key in sorted(unknown)})
    defaults = {
        f.name: f.get_default() for f in Job._meta.concrete_fields if f.name in EDITABLE_FIELDS
    }
    # The shared fields once, with the first payload; then each payload on its own.
    base = job_validate({**defaults, **shared, "payload": payloads[0]})
    errors = {}
    for index, payload in enumerate(payloads[1:], start=1):
        try:
            job_validate({**base, "payload": payload})
        except ValidationError as exc:
            errors[f"payloads[{index}]"] = exc.errors.get("payload", [str(exc)])
    if errors:
        raise ValidationError(errors)
    jobs, rows = [], []
    for payload in payloads:
        job = Job(owner=owner, state=JobState.ACTIVE, **{**base, "payload": payload})
        job.next_run_at = job.run_at
        if job.run_at <= now:
            rows += engine.occurrences_plan(job, now=now)
        jobs.append(job)
    _write_created(jobs, rows, changes={"handler": [None, handler], "count": [None, len(jobs)]})
    return jobs


@retried_on_deadlock
def job_update(*, job: Job, **changes) -> Job:
    """Change a job's definition; a schedule change recomputes next_run_at."""
    return _job_update(job, changes, action="edit")


def _job_update(job: Job, changes: dict, *, action: str) -> Job:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    now = timezone.now()
    with transaction.atomic():
        # Edit the row as it is now, locked until commit, and write only what this edit
        # changes: concurrent edits wait for each other and none undoes another's fields.
        _lock_job(job, action)
        _refuse_editing_internal(job)
        current = {name: getattr(job, name) for name in EDITABLE_FIELDS}
        before = audit.snapshot(job, AUDITED_FIELDS)
        fields = job_validate({**current, **changes})
        if fields["handler"] != current["handler"]:
            _refuse_internal(fields["handler"], job.owner)
        update_fields = [name for name in EDITABLE_FIELDS if fields[name] != current[name]]
        schedule_changed = bool(set(update_fields) & set(SCHEDULE_FIELDS))
        for name in update_fields:
            setattr(job, name, fields[name])
        if schedule_changed:
            if job.state in FINISHED_JOB_STATES:
                _transition_job(job, JobState.ACTIVE, action="reschedule")
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


def _refused(job: Job, action: str, *, obj: str = "job") -> InvalidTransition:
    """The error for `action` refused by the database: it names the job's state there."""
    current = Job.objects.filter(pk=job.pk).values_list("state", flat=True).first()
    return InvalidTransition(obj=obj, state=current or "deleted", action=action)


def _lock_job(job: Job, action: str, *, obj: str = "job") -> Job:
    """Lock `job`'s row until commit and reload it, if its state there allows `action`.

    The check reads the locked row, not the caller's copy: a cancel that committed since
    the caller read the job is seen here, and one not yet committed waits for this
    transaction (and then cancels what it queued).
    """
    locked = Job.objects.select_for_update().filter(state__in=JOB_ACTIONS[action])
    try:
        job.refresh_from_db(from_queryset=locked)
    except Job.DoesNotExist:
        raise _refused(job, action, obj=obj) from None
    return job


def _transition_job(job: Job, target: str, *, action: str, **extra) -> Job:
    """Move `job` to `target` if its current state allows `action` (a conditional UPDATE)."""
    updated = Job.objects.filter(pk=job.pk, state__in=job_sources(target, action)).update(
        state=target, updated_at=timezone.now(), **extra
    )
    if not updated:
        raise _refused(job, action)
    before, job.state = job.state, target
    for name, value in extra.items():
        setattr(job, name, value)
    signals.send_after_commit(signals.job_state_changed, Job, job=job, before=before, after=target)
    return job


def _transition_audited(job: Job, target: str, *, action: str, **extra) -> Job:
    with transaction.atomic():
        before = job.state
        _transition_job(job, target, action=action, **extra)
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
    with transaction.atomic():
        job.refresh_from_db()
        pending = (
            job.schedule_type == ScheduleType.ONCE
            and job.executions.filter(scheduled_for=job.run_at).exists()
        )
        # A one-time job whose run was already queued keeps waiting on it.
        next_run_at = None if pending else _first_run_at(job, now=now)
        _transition_audited(job, JobState.ACTIVE, action="resume", next_run_at=next_run_at)
        _queue_if_due(job, now=now)
        wakeup.schedule_changed(job.queue)
    return job


@retried_on_deadlock
def job_cancel(*, job: Job) -> Job:
    """Stop `job` for good: queued runs are cancelled, running ones asked to stop."""
    now = timezone.now()
    with transaction.atomic():
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
    return job


@retried_on_deadlock
def job_trigger(*, job: Job) -> Execution:
    """Queue a run of `job` now, leaving its schedule as it is."""
    now = timezone.now()
    with transaction.atomic():
        # A conditional UPDATE checks the state in the database and holds the row until
        # commit: a cancel that committed first refuses this trigger, a later one waits and
        # then cancels the run queued here.
        allowed = Job.objects.filter(pk=job.pk, state__in=JOB_ACTIONS["trigger"])
        if not allowed.update(last_run_at=now):
            raise _refused(job, "trigger")
        execution = engine.occurrence(job, now, now=now)
        execution.save(force_insert=True)
        wakeup.queued(job.queue)
        _audit(job, "trigger", {"execution": [None, execution.pk]})
    return execution


def job_delete(*, job: Job) -> None:
    """Delete `job` and its history; a running attempt finishes but its outcome is dropped."""
    with transaction.atomic():
        _audit(job, "delete", audit.diff(audit.snapshot(job, AUDITED_FIELDS), {}))
        job.delete()


# --- Executions -------------------------------------------------------------------------


@retried_on_deadlock
def execution_retry(*, execution: Execution) -> Execution:
    """Queue a new attempt of a dead (or cancelled) execution's occurrence."""
    now = timezone.now()
    try:
        with transaction.atomic():
            # Both states are read in the database, the job's under a row lock: see
            # _lock_job. (Dead and cancelled are final, so the execution needs no lock.)
            retryable = EXECUTION_ACTIONS["retry"]
            if not Execution.objects.filter(pk=execution.pk, state__in=retryable).exists():
                execution.refresh_from_db(fields=["state"])
                raise InvalidTransition(obj="execution", state=execution.state, action="retry")
            job = _lock_job(execution.job, "retry", obj="execution of a job")
            retry = Execution.objects.create(
                job=job,
                scheduled_for=execution.scheduled_for,
                attempt=execution.attempt + 1,
                queue=job.queue,
                priority=job.priority,
                run_after=now,
                created_at=now,
            )
            if job.state == JobState.FAILED:
                _transition_job(job, JobState.ACTIVE, action="reschedule")
            wakeup.queued(job.queue)
            _audit_execution(execution, "retry", {"retry": [None, retry.pk]})
    except IntegrityError:
        # The unique (job, scheduled_for, attempt) key: this attempt was already retried.
        raise InvalidTransition(obj="execution", state="already retried", action="retry") from None
    return retry


@retried_on_deadlock
def execution_cancel(*, execution: Execution) -> Execution:
    """Cancel a queued execution, or ask a running one to stop."""
    now = timezone.now()
    with transaction.atomic():
        # Both moves are conditional UPDATEs: a worker claiming the row meanwhile wins.
        updated = Execution.objects.filter(pk=execution.pk, state__in=CANCEL_AT_ONCE).update(
            state=ExecutionState.CANCELLED, finished_at=now, error="Cancelled."
        )
        change = {"state": [ExecutionState.QUEUED, ExecutionState.CANCELLED]}
        if not updated:
            updated = Execution.objects.filter(pk=execution.pk, state__in=CANCEL_BY_REQUEST).update(
                cancel_requested=True
            )
            change = {"cancel_requested": [False, True]}
        if not updated:
            execution.refresh_from_db()
            raise InvalidTransition(obj="execution", state=execution.state, action="cancel")
        wakeup.cancel_requested(execution.pk)
        _audit_execution(execution, "cancel", change)
    execution.refresh_from_db()
    return execution


def _audit_execution(execution: Execution, action: str, changes: dict) -> None:
    audit.record(
        action=action,
        object_type="execution",
        object_id=execution.pk,
        owner_id=execution.job.owner_id,
        changes=changes,
    )
