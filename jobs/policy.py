"""Who may see and do what: the one place the API and the admin ask.

Everyone reaches their own jobs, the executions of their own jobs, and the audit events
about them. Staff reach other users' objects only as far as their Django model permissions
allow, exactly as the admin reads them: `view_*` (or `change_*`, which the admin takes to
imply viewing) to list and read them, `change_*` to change them and run their actions,
`delete_*` to delete them, and never an object they cannot see. Without a permission a
staff user is an ordinary user for others' objects. Superusers hold every permission.

The scheduler's own jobs (no owner: the cleanup job, notifications to send, Django tasks)
are changed by superusers only, and only in the admin: never through the API, whose
requests act for a user (`changed_through_api`). Only superusers give a job another owner
or none; anyone else's new job is their own (`may_choose_owner`).

The audit trail, the workers and /metrics are fleet-wide: staff read them with
`view_auditevent` and `view_worker`. An owner reading the events about their own objects
sees another person who acted on them as "staff" (`sees_actors`, accounts.actors).
"""

from django.db.models import QuerySet

from .models import AuditEvent, Execution, Job, Queue, Worker, Workflow

VIEW, CHANGE, DELETE = "view", "change", "delete"
ACTIONS = (VIEW, CHANGE, DELETE)

SCHEDULERS_OWN = "This is one of the scheduler's own jobs: it is not changed through the API."
NOT_PERMITTED = "You may see this, but not {action} it: that needs the {permission} permission."


def permission(action: str, model) -> str:
    """Return the permission `action` on `model` needs, e.g. "jobs.change_job"."""
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def reaches_all(user, action: str, model) -> bool:
    """Whether `user` may `action` every user's objects of `model`, not only their own."""
    if not (user.is_active and user.is_staff):
        return False  # permissions granted to an ordinary account count for nothing
    if user.is_superuser:
        return True
    if action == VIEW:
        # As in the admin: whoever may change objects may see them.
        return user.has_perm(permission(VIEW, model)) or user.has_perm(permission(CHANGE, model))
    # Acting on an object one cannot see is not offered, in the admin or the API.
    return reaches_all(user, VIEW, model) and user.has_perm(permission(action, model))


# --- Row sets ---------------------------------------------------------------------------


def jobs_for(user, action: str = VIEW, jobs: QuerySet | None = None) -> QuerySet:
    """Return the jobs (of `jobs`, by default all) `user` may `action`."""
    jobs = Job.objects.all() if jobs is None else jobs
    if not reaches_all(user, action, Job):
        return jobs.filter(owner_id=user.pk) if user.is_authenticated else jobs.none()
    if action != VIEW and not user.is_superuser:
        return jobs.filter(owner__isnull=False)  # the scheduler's own: superusers only
    return jobs


def executions_for(user, action: str = VIEW, executions: QuerySet | None = None) -> QuerySet:
    """Return the executions (of `executions`, by default all) `user` may `action` (retry
    and cancel are changes)."""
    executions = Execution.objects.all() if executions is None else executions
    if reaches_all(user, action, Execution):
        return executions
    return executions.filter(job__owner_id=user.pk) if user.is_authenticated else executions.none()


def workflows_for(user, action: str = VIEW, workflows: QuerySet | None = None) -> QuerySet:
    """Return the workflows (of `workflows`, by default all) `user` may `action`: as jobs,
    their own, or others' as far as the workflow permissions reach (the scheduler's own
    changed by superusers only)."""
    workflows = Workflow.objects.all() if workflows is None else workflows
    if not reaches_all(user, action, Workflow):
        return workflows.filter(owner_id=user.pk) if user.is_authenticated else workflows.none()
    if action != VIEW and not user.is_superuser:
        return workflows.filter(owner__isnull=False)
    return workflows


def audit_events_for(user) -> QuerySet:
    """Return the audit events `user` may read: about their own objects, or all of them."""
    events = AuditEvent.objects.all()
    if sees_actors(user):
        return events
    return events.filter(owner_id=user.pk) if user.is_authenticated else events.none()


# --- One object -------------------------------------------------------------------------


def owner_of(obj):
    """Return the id of the user who owns `obj` (a job or an execution); None for the
    scheduler's own."""
    if isinstance(obj, Execution):
        return obj.job.owner_id
    return obj.owner_id


def may(user, action: str, obj) -> bool:
    """Whether `user` may `action` ("view", "change", "delete") `obj`: a job, an execution
    or a queue."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown action {action!r}; one of {', '.join(ACTIONS)}.")
    if not user.is_authenticated:
        return False
    if isinstance(obj, Queue):
        return reaches_all(user, action, Queue)  # fleet-wide: nobody owns a queue
    owner = owner_of(obj)
    if owner is not None and owner == user.pk:
        return True
    if not reaches_all(user, action, type(obj)):
        return False
    if isinstance(obj, (Job, Workflow)) and owner is None and action != VIEW:
        return user.is_superuser
    return True


def may_view_history(user, job: Job) -> bool:
    """Whether `user` may see `job`'s executions (its owner, or staff who see everyone's)."""
    return (job.owner_id is not None and job.owner_id == user.pk) or reaches_all(
        user, VIEW, Execution
    )


def refusal(user, action: str, obj) -> str | None:
    """Return why `user` may not `action` the visible `obj` through the API; None if they may."""
    if action != VIEW and isinstance(obj, (Job, Workflow)) and not changed_through_api(obj):
        return SCHEDULERS_OWN
    if not may(user, action, obj):
        return NOT_PERMITTED.format(action=action, permission=permission(action, type(obj)))
    return None


def changed_through_api(job: Job | Workflow) -> bool:
    """Whether `job` (or a workflow) may be changed through the API at all: not the
    scheduler's own."""
    return job.owner_id is not None


def may_choose_owner(user) -> bool:
    """Whether `user` may make a job for another user, or for nobody (the scheduler)."""
    return user.is_active and user.is_superuser


# --- Fleet-wide pages ---------------------------------------------------------------------


def sees_actors(user) -> bool:
    """Whether `user` reads the whole audit trail, with who acted, from where."""
    return reaches_all(user, VIEW, AuditEvent)


def may_view_workers(user) -> bool:
    """Whether `user` may list the workers."""
    return reaches_all(user, VIEW, Worker)


def may_read_metrics(user) -> bool:
    """Whether `user` may read /metrics: fleet-wide figures, as the workers' list is."""
    return may_view_workers(user)


def sees_internal_handlers(user) -> bool:
    """Whether `user` is shown the handlers only the scheduler's own jobs use."""
    return user.is_active and user.is_staff
