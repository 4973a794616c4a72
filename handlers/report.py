"""The built-in `report` handler: a summary of the owner's jobs and executions over a period.

The figures (jobs by state, attempts by state and by handler, the failure rate, the slowest
runs) are computed by a few aggregate queries and stored as the execution's result, as JSON
and as CSV tables; with `email_to` (or `email_owner`) they are also mailed, the CSV attached.

A report covers the jobs of its own job's owner. A job without an owner (created by the
system, e.g. from Django code) reports on every job.
"""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from jobs.exceptions import SchedulerError
from jobs.states import ExecutionState

from . import email as email_handler
from .registry import register

DEFAULT_DAYS = 7
DEFAULT_TOP = 10
FAILED_STATES = (ExecutionState.FAILED, ExecutionState.DEAD)
# Attempts that ran to an end of their own: the failure rate's denominator.
RAN_STATES = (ExecutionState.SUCCEEDED, *FAILED_STATES)
HANDLER_COLUMNS = [
    "handler",
    "total",
    *ExecutionState.values,
    "failure_rate",
    "avg_seconds",
    "max_seconds",
]
SLOWEST_COLUMNS = [
    "execution_id",
    "job_id",
    "job_name",
    "handler",
    "state",
    "attempt",
    "started_at",
    "duration_seconds",
]

SCHEMA = {
    "type": "object",
    "properties": {
        "days": {"type": "number", "exclusiveMinimum": 0, "maximum": 366},
        "since": {"type": "string", "maxLength": 40},
        "until": {"type": "string", "maxLength": 40},
        "top": {"type": "integer", "minimum": 1, "maximum": 100},
        "email_to": email_handler.ADDRESS_LIST,
        "email_owner": {"type": "boolean"},
    },
    "not": {"required": ["days", "since"]},
    "additionalProperties": False,
}


class ReportError(SchedulerError):
    """The report cannot be made."""


def check(payload: dict) -> list[str]:
    problems = []
    for field in ("since", "until"):
        if field in payload and _parse_when(payload[field]) is None:
            problems.append(f"{field}: not an ISO 8601 date and time.")
    problems.extend(email_handler.address_problems("email_to", payload.get("email_to", [])))
    problems.extend(email_handler.recipients_problems(payload.get("email_to", [])))
    return problems


@register(
    "report",
    description=(
        "Summarise the owner's jobs and executions over a period (days, or since/until): "
        "counts by state and handler, failure rate, slowest runs; as JSON and CSV, "
        "optionally emailed (email_to, email_owner)."
    ),
    schema=SCHEMA,
    check=check,
)
def report(payload, ctx):
    until = _parse_when(payload["until"]) if "until" in payload else timezone.now()
    if "since" in payload:
        since = _parse_when(payload["since"])
    else:
        since = until - timedelta(days=payload.get("days", DEFAULT_DAYS))
    if since >= until:
        raise ReportError("The period is empty: since must come before until.")
    owner = get_user_model().objects.filter(pk=ctx.job.owner_id).first()
    summary = build_report(
        owner_id=owner.pk if owner else None,
        since=since,
        until=until,
        top=payload.get("top", DEFAULT_TOP),
        exclude_execution_id=ctx.execution.pk,
    )
    tables = {
        "by_handler": to_csv(HANDLER_COLUMNS, summary["executions"]["by_handler"]),
        "slowest": to_csv(SLOWEST_COLUMNS, summary["executions"]["slowest"]),
    }
    recipients = list(payload.get("email_to", []))
    if payload.get("email_owner") and owner and owner.email:
        recipients.append(owner.email)
    result = {**summary, "csv": tables}
    if recipients:
        sent = email_handler.send_email(
            owner_id=owner.pk if owner else None,
            to=recipients,
            subject=(
                f"Scheduler report {since.astimezone(UTC):%Y-%m-%d %H:%M} "
                f"to {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
            ),
            body=as_text(summary),
            attachments=[
                ("by_handler.csv", tables["by_handler"], "text/csv"),
                ("slowest.csv", tables["slowest"], "text/csv"),
                ("report.json", json.dumps(summary, indent=2), "application/json"),
            ],
        )
        result["emailed"] = sent
    ctx.logger.info(
        "Report made scope=%s executions=%s emailed=%s",
        summary["scope"],
        summary["executions"]["total"],
        len(recipients),
    )
    return result


def build_report(
    *,
    owner_id: int | None,
    since: datetime,
    until: datetime,
    top: int = DEFAULT_TOP,
    exclude_execution_id: int | None = None,
) -> dict:
    """Return the figures for `owner_id`'s jobs (all jobs if None) over [since, until)."""
    from jobs.models import Execution, Job

    jobs = Job.objects.all()
    executions = Execution.objects.filter(created_at__gte=since, created_at__lt=until)
    if owner_id is not None:
        jobs = jobs.filter(owner_id=owner_id)
        executions = executions.filter(job__owner_id=owner_id)
    if exclude_execution_id is not None:
        executions = executions.exclude(pk=exclude_execution_id)

    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    timed = Q(started_at__isnull=False, finished_at__isnull=False)
    per_state = {state: Count("pk", filter=Q(state=state)) for state in ExecutionState.values}
    by_handler = []
    rows = (
        executions.values(handler=F("job__handler"))
        .annotate(
            total=Count("pk"),
            **per_state,
            avg=Avg(duration, filter=timed),
            max=Max(duration, filter=timed),
        )
        .order_by("handler")
    )
    for row in rows:
        by_handler.append(
            {
                "handler": row["handler"],
                "total": row["total"],
                **{state: row[state] for state in ExecutionState.values},
                "failure_rate": _failure_rate(row),
                "avg_seconds": _seconds(row["avg"]),
                "max_seconds": _seconds(row["max"]),
            }
        )
    totals = {state: sum(row[state] for row in by_handler) for state in ExecutionState.values}

    slowest = []
    for execution in (
        executions.filter(timed)
        .annotate(run_time=duration)
        .select_related("job")
        .order_by("-run_time", "pk")[:top]
    ):
        slowest.append(
            {
                "execution_id": execution.pk,
                "job_id": str(execution.job_id),
                "job_name": execution.job.name,
                "handler": execution.job.handler,
                "state": execution.state,
                "attempt": execution.attempt,
                "started_at": execution.started_at.isoformat(),
                "duration_seconds": _seconds(execution.run_time),
            }
        )

    jobs_by_state = dict.fromkeys(("active", "paused", "completed", "failed", "cancelled"), 0)
    for row in jobs.values("state").annotate(n=Count("pk")).order_by():
        jobs_by_state[row["state"]] = row["n"]
    return {
        "scope": "all" if owner_id is None else f"owner:{owner_id}",
        "period": {"since": since.isoformat(), "until": until.isoformat()},
        "jobs": {
            "total": sum(jobs_by_state.values()),
            "by_state": jobs_by_state,
            "created": jobs.filter(created_at__gte=since, created_at__lt=until).count(),
        },
        "executions": {
            "total": sum(totals.values()),
            "by_state": totals,
            "failure_rate": _failure_rate(totals),
            "by_handler": by_handler,
            "slowest": slowest,
        },
    }


def to_csv(columns: list[str], rows: list[dict]) -> str:
    """Return `rows` as CSV text with a header line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return out.getvalue()


def as_text(summary: dict) -> str:
    """Return the summary as a short plain-text email body."""
    executions = summary["executions"]
    rate = executions["failure_rate"]
    lines = [
        f"Period: {summary['period']['since']} to {summary['period']['until']}",
        f"Jobs: {summary['jobs']['total']} ({_counts(summary['jobs']['by_state'])}); "
        f"{summary['jobs']['created']} created in the period",
        f"Attempts: {executions['total']} ({_counts(executions['by_state'])})",
        f"Failure rate: {'n/a' if rate is None else f'{rate:.1%}'}",
        "",
        "By handler:",
    ]
    for row in executions["by_handler"]:
        lines.append(
            f"  {row['handler']}: {row['total']} attempts, {row['failed'] + row['dead']} failed, "
            f"slowest {row['max_seconds'] if row['max_seconds'] is not None else '-'} s"
        )
    lines += ["", "The tables are attached as CSV, the whole report as JSON."]
    return "\n".join(lines) + "\n"


def _failure_rate(counts: dict) -> float | None:
    ran = sum(counts[state] for state in RAN_STATES)
    if not ran:
        return None
    return round(sum(counts[state] for state in FAILED_STATES) / ran, 4)


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds(), 3)


def _counts(by_state: dict) -> str:
    return ", ".join(f"{n} {state}" for state, n in by_state.items() if n) or "none"


def _cell(value):
    # A cell starting with = + - @ is a formula to a spreadsheet; job names are user input.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _parse_when(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed
