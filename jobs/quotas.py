"""Quotas: what the jobs of an ordinary (non-staff) user may ask for, and how much they may use.

Two kinds of limit, each a setting of jobs.conf:

- what a field may say, refused with 403 (QuotaExceeded.FIELD_LIMIT): QUOTA_MAX_PRIORITY,
  QUOTA_MAX_TIMEOUT_SECONDS, QUOTA_QUEUES and QUOTA_MIN_INTERVAL_SECONDS (interval_seconds,
  and a cron expression whose runs come closer together);
- how much is used, refused with 429 (QuotaExceeded.COUNT_LIMIT): QUOTA_MAX_ACTIVE_JOBS
  (jobs active or paused) and QUOTA_EMAILS_PER_DAY (emails, one per recipient, sent by the
  user's email and report jobs in the last 24 hours).

A limit belongs to the job's owner, whoever makes the request: jobs without an owner (the
scheduler's own, Django code's) and jobs of staff users are exempt, so the admin decides who
is limited by deciding who is staff. The services check before they write anything; the
email handler checks again just before it sends.
"""

from datetime import timedelta
from itertools import pairwise

from croniter import croniter
from django.contrib.auth import get_user_model
from django.db.models import IntegerField, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from . import conf, database
from .cron_syntax import croniter_form
from .exceptions import NON_FIELD, QuotaExceeded
from .models import Execution, Job
from .states import ExecutionState, JobState, ScheduleType

# Jobs that count against QUOTA_MAX_ACTIVE_JOBS: every one that is not finished.
COUNTED_JOB_STATES = (JobState.ACTIVE, JobState.PAUSED)
EMAIL_WINDOW = timedelta(hours=24)
# The handlers that send mail, and where each records how many recipients it sent to: the
# email handler's result is {"recipients": n, ...}, a report's {"emailed": {"recipients": n}}.
EMAIL_RESULT_PATHS = {"email": "result__recipients", "report": "result__emailed__recipients"}
# The setting that limits each field, named in the refusal.
FIELD_LIMITS = {
    "priority": "QUOTA_MAX_PRIORITY",
    "timeout_seconds": "QUOTA_MAX_TIMEOUT_SECONDS",
    "queue": "QUOTA_QUEUES",
    "interval_seconds": "QUOTA_MIN_INTERVAL_SECONDS",
    "cron": "QUOTA_MIN_INTERVAL_SECONDS",
}


def applies_to(owner) -> bool:
    """Whether the quotas bind jobs of `owner` (a user, a user's id, or None)."""
    if owner is None:
        return False
    if not hasattr(owner, "is_staff"):
        owner = get_user_model().objects.filter(pk=owner).first()
        if owner is None:
            return False
    return not (owner.is_staff or owner.is_superuser)


# --- What the fields may say (403) -------------------------------------------------------


def check_definition(owner, fields: dict, *, changed=None) -> None:
    """Refuse a definition whose fields pass the owner's limits; with `changed`, only those
    fields are judged (an edit need not repair what an exempt hand set before)."""
    if not applies_to(owner):
        return
    errors = definition_errors(fields)
    if changed is not None:
        errors = {name: messages for name, messages in errors.items() if name in changed}
    if errors:
        limit = FIELD_LIMITS[next(iter(errors))]
        raise QuotaExceeded(errors, code=QuotaExceeded.FIELD_LIMIT, limit=limit)


def definition_errors(fields: dict) -> dict[str, list[str]]:
    """Return field -> messages for each field limit a (valid) definition passes."""
    errors: dict[str, list[str]] = {}
    highest = conf.QUOTA_MAX_PRIORITY
    if (fields.get("priority") or 0) > highest:
        errors["priority"] = [f"At most {highest} for your account (QUOTA_MAX_PRIORITY)."]

    longest = conf.QUOTA_MAX_TIMEOUT_SECONDS
    timeout = fields.get("timeout_seconds")
    if longest and timeout is not None and timeout > longest:
        errors["timeout_seconds"] = [
            f"At most {longest} seconds for your account (QUOTA_MAX_TIMEOUT_SECONDS)."
        ]
    elif longest and timeout is None and longest < conf.JOB_DEFAULT_TIMEOUT_SECONDS:
        errors["timeout_seconds"] = [
            f"Without it a run may take {conf.JOB_DEFAULT_TIMEOUT_SECONDS} seconds "
            f"(JOB_DEFAULT_TIMEOUT_SECONDS); give at most {longest} seconds for your account "
            f"(QUOTA_MAX_TIMEOUT_SECONDS)."
        ]

    queues = conf.QUOTA_QUEUES
    queue = fields.get("queue") or "default"
    if queues and queue not in queues:
        errors["queue"] = [
            f"The queue {queue!r} is not open to your account; use "
            f"{', '.join(repr(q) for q in queues)} (QUOTA_QUEUES)."
        ]

    shortest = conf.QUOTA_MIN_INTERVAL_SECONDS
    kind = fields.get("schedule_type")
    if shortest and kind == ScheduleType.INTERVAL:
        if (fields.get("interval_seconds") or 0) < shortest:
            errors["interval_seconds"] = [
                f"At least {shortest} seconds for your account (QUOTA_MIN_INTERVAL_SECONDS)."
            ]
    elif shortest and kind == ScheduleType.CRON:
        gap = cron_shortest_gap(fields["cron"])
        if gap < shortest:
            errors["cron"] = [
                f"Runs as little as {gap} second{'' if gap == 1 else 's'} apart; at least "
                f"{shortest} seconds for your account (QUOTA_MIN_INTERVAL_SECONDS)."
            ]
    return errors


def cron_shortest_gap(expression: str) -> int:
    """Return the fewest seconds between two runs of a (valid) cron expression.

    Taken from the times of day it names (second, minute, hour), counting the step over
    midnight as if every day fired: a day field can only spread runs further apart.
    """
    expanded = croniter(croniter_form(expression), second_at_beginning=True).expanded
    # croniter lists minute, hour, day, month, weekday, then the seconds of a 6-field one.
    minutes, hours = expanded[0], expanded[1]
    seconds = expanded[5] if len(expanded) > 5 else [0]

    def values(field: list, count: int):
        return range(count) if field == ["*"] else field

    times = sorted(
        hour * 3600 + minute * 60 + second
        for hour in values(hours, 24)
        for minute in values(minutes, 60)
        for second in values(seconds, 60)
    )
    gaps = [later - earlier for earlier, later in pairwise(times)]
    return min([*gaps, times[0] + 24 * 3600 - times[-1]])


# --- What is used (429) ------------------------------------------------------------------


def check_active_jobs(owner, *, adding: int = 1) -> None:
    """Refuse `adding` more unfinished jobs to the owner's, past QUOTA_MAX_ACTIVE_JOBS.

    Call inside the transaction that writes them: the count and the write hold a lock of
    the owner's until commit, so two requests at once cannot both take the last place.
    """
    most = conf.QUOTA_MAX_ACTIVE_JOBS
    if not most or not applies_to(owner):
        return
    owner_id = getattr(owner, "pk", owner)
    with database.cursor() as cursor:
        # Named as the engine names its advisory locks (jobs/engine/queries.sql).
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('jobs_quota active ' || %s, 0))",
            [str(owner_id)],
        )
    held = Job.objects.filter(owner_id=owner_id, state__in=COUNTED_JOB_STATES).count()
    if held + adding > most:
        raise QuotaExceeded(
            {
                NON_FIELD: [
                    f"Your account has {held} jobs active or paused and may have at most "
                    f"{most} (QUOTA_MAX_ACTIVE_JOBS); cancel or delete some first."
                ]
            },
            code=QuotaExceeded.COUNT_LIMIT,
            limit="QUOTA_MAX_ACTIVE_JOBS",
        )


def sends_email(handler: str, payload: dict) -> bool:
    """Whether a job of `handler` with `payload` sends mail when it runs."""
    if handler == "report":
        return bool(payload.get("email_to") or payload.get("email_owner"))
    return handler in EMAIL_RESULT_PATHS


def emails_sent(owner_id: int, *, now=None) -> int:
    """Return the emails (one per recipient) the owner's jobs sent in the last 24 hours."""
    since = (now or timezone.now()) - EMAIL_WINDOW
    total = 0
    for handler, path in EMAIL_RESULT_PATHS.items():
        counted = Execution.objects.filter(
            job__owner_id=owner_id,
            job__handler=handler,
            state=ExecutionState.SUCCEEDED,
            finished_at__gte=since,
        ).aggregate(n=Coalesce(Sum(Cast(KT(path), IntegerField())), 0))
        total += counted["n"]
    return total


def check_emails(owner, *, handler: str, payloads: list[dict]) -> None:
    """Refuse a request that would run email-sending jobs (of `handler`, one per payload)
    once the owner's jobs have sent QUOTA_EMAILS_PER_DAY emails in the last 24 hours."""
    most = conf.QUOTA_EMAILS_PER_DAY
    if not most or not any(sends_email(handler, p) for p in payloads) or not applies_to(owner):
        return
    sent = emails_sent(getattr(owner, "pk", owner))
    if sent >= most:
        raise QuotaExceeded(
            {NON_FIELD: [f"The {_emails_used(sent, most)}"]},
            code=QuotaExceeded.COUNT_LIMIT,
            limit="QUOTA_EMAILS_PER_DAY",
        )


def refuse_sending(owner_id: int | None, *, recipients: int) -> None:
    """Refuse, at run time, a message to `recipients` addresses that would take the owner's
    jobs past QUOTA_EMAILS_PER_DAY.

    Runs at once can each pass before either records what it sent, so the limit can be
    passed by as many messages as run at the same moment; it holds from then on.
    """
    most = conf.QUOTA_EMAILS_PER_DAY
    if not most or not applies_to(owner_id):
        return
    sent = emails_sent(owner_id)
    if sent + recipients > most:
        raise QuotaExceeded(
            {
                NON_FIELD: [
                    f"Not sent to {recipients} more recipient{'' if recipients == 1 else 's'}: "
                    f"the {_emails_used(sent, most)}"
                ]
            },
            code=QuotaExceeded.COUNT_LIMIT,
            limit="QUOTA_EMAILS_PER_DAY",
        )


def _emails_used(sent: int, most: int) -> str:
    return (
        f"jobs of your account sent {sent} emails in the last 24 hours and may send at most "
        f"{most} (QUOTA_EMAILS_PER_DAY)."
    )
