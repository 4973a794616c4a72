"""`manage.py jobsctl`: look at and steer jobs from a shell, without the admin.

    jobsctl list [--state S] [--handler H] [--queue Q] [--search TEXT] [--limit N]
    jobsctl show JOB            jobsctl pause JOB    jobsctl resume JOB    jobsctl trigger JOB
    jobsctl backfill JOB --start TIME --end TIME
    jobsctl executions [--job JOB] [--state S] [--queue Q] [--limit N]
    jobsctl retry EXECUTION     jobsctl stats [--window SECONDS]
    jobsctl retry-all|cancel-all [--state S] [--queue Q] [--handler H] [--finished-after TIME]
    jobsctl pause-all|resume-all [--state S] [--queue Q] [--handler H] [--search TEXT]
    jobsctl workers [--all] [--host HOST] [--check]
    jobsctl queues              jobsctl pause-queue QUEUE    jobsctl resume-queue QUEUE

JOB is a job id or any unique prefix of it (tables show the first 8 characters), with or
without its hyphens. Every subcommand takes --json for scripts. Changes go through
jobs.services, the same functions the admin and the API call, and the audit trail records
them as made by the OS user running the command, via "jobsctl". Bad input exits 1 with a
one-line reason and changes nothing.
"""

import argparse
import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from jobs import audit, services
from jobs.exceptions import SchedulerError
from jobs.management import cli
from jobs.management.bulk_cli import BulkCommands
from jobs.management.cli_args import (
    execution_by_ref,
    job_by_ref,
    one_line_errors,
    operator,
    positive_int,
    timestamp,
)
from jobs.management.queues_cli import QueueCommands
from jobs.models import Execution, Job
from jobs.selectors.activity import OUTCOMES
from jobs.selectors.snapshot import snapshot
from jobs.selectors.workers import worker_rows
from jobs.states import ExecutionState, JobState


class Command(BulkCommands, QueueCommands, BaseCommand):
    help = (
        "List, inspect and steer jobs and executions: list, show, pause, resume, trigger, "
        "backfill, executions, retry, retry-all, cancel-all, pause-all, resume-all, stats, "
        "workers, queues, pause-queue, resume-queue. "
        "Add --json for machine-readable output."
    )

    def add_arguments(self, parser):
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        sub = parser.add_subparsers(dest="action", metavar="SUBCOMMAND", required=True)
        one_line_errors(parser)

        ls = sub.add_parser("list", parents=[common], help="List jobs, newest first.")
        ls.add_argument("--state", choices=JobState.values)
        ls.add_argument("--handler")
        ls.add_argument("--queue")
        ls.add_argument("--search", help="Part of the job's name.")
        ls.add_argument("--limit", type=positive_int, default=50)

        show = sub.add_parser("show", parents=[common], help="A job and its latest executions.")
        show.add_argument("job", metavar="JOB")
        show.add_argument("--executions", type=positive_int, default=10, metavar="N")

        for name, text in [
            ("pause", "Stop materialising a job's occurrences."),
            ("resume", "Make a paused job active again."),
            ("trigger", "Queue a run of a job now; its schedule is kept."),
        ]:
            sub.add_parser(name, parents=[common], help=text).add_argument("job", metavar="JOB")

        backfill = sub.add_parser(
            "backfill",
            parents=[common],
            help="Queue a recurring job's past occurrences that have no execution yet.",
        )
        backfill.add_argument("job", metavar="JOB")
        for edge in ("start", "end"):
            backfill.add_argument(
                f"--{edge}",
                type=timestamp,
                required=True,
                metavar="TIME",
                help=f"The range's {edge}, included (ISO 8601; UTC without an offset).",
            )

        ex = sub.add_parser("executions", parents=[common], help="List executions, newest first.")
        ex.add_argument("--job", metavar="JOB")
        ex.add_argument("--state", choices=ExecutionState.values, help="dead: the dead letters.")
        ex.add_argument("--queue")
        ex.add_argument("--limit", type=positive_int, default=50)

        retry = sub.add_parser(
            "retry", parents=[common], help="Queue a new attempt of a dead or cancelled execution."
        )
        retry.add_argument("execution", metavar="EXECUTION")
        stats = sub.add_parser("stats", parents=[common], help="Jobs, queues, workers, activity.")
        stats.add_argument(
            "--window", type=positive_int, help="Seconds of activity (METRICS_WINDOW_SECONDS)."
        )

        workers = sub.add_parser("workers", parents=[common], help="List live workers.")
        workers.add_argument(
            "--all", dest="everyone", action="store_true", help="Stopped and stale ones too."
        )
        workers.add_argument("--host", help="Only workers on this host name.")
        workers.add_argument(
            "--check", action="store_true", help="Exit 1 unless a live worker is listed."
        )
        self.add_bulk_arguments(sub, common)
        self.add_queue_arguments(sub, common)
        for subparser in sub.choices.values():
            one_line_errors(subparser)

    def handle(self, *args, action, **options):
        self.as_json = options.pop("json", False)
        try:
            with audit.acting_as(operator()):
                getattr(self, f"do_{action.replace('-', '_')}")(**options)
        except SchedulerError as exc:
            raise CommandError(cli.printable(str(exc))) from None
        except DatabaseError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise CommandError(f"Database error: {reason}") from None

    # --- Output -------------------------------------------------------------------------

    def emit(self, data, text: str) -> None:
        if self.as_json:
            self.stdout.write(cli.printable_json(_json_dumps(data)))
        else:
            self.stdout.write(cli.printable(text))

    # --- Subcommands --------------------------------------------------------------------

    def do_list(self, *, state, handler, queue, search, limit, **_):
        jobs = Job.objects.select_related("owner").order_by("-created_at")
        if state:
            jobs = jobs.filter(state=state)
        if handler:
            jobs = jobs.filter(handler=handler)
        if queue:
            jobs = jobs.filter(queue=queue)
        if search:
            jobs = jobs.filter(name__icontains=search)
        jobs = list(jobs[:limit])
        text = cli.table(cli.JOB_HEADERS, [cli.job_row(j) for j in jobs]) if jobs else "No jobs."
        self.emit([cli.job_data(j) for j in jobs], text)

    def do_show(self, *, job, executions, **_):
        job = job_by_ref(job)
        recent = list(
            job.executions.select_related("job", "worker").order_by("-created_at", "-id")[
                :executions
            ]
        )
        data = {**cli.job_data(job), "executions": [cli.execution_data(e) for e in recent]}
        fields = [
            ("id", job.pk),
            ("name", job.name),
            ("handler", job.handler),
            ("state", job.state),
            ("schedule", cli.schedule_text(job)),
            ("queue", f"{job.queue} (priority {job.priority})"),
            ("retries", f"up to {job.max_retries}, backoff from {job.retry_backoff_seconds}s"),
            ("timeout", f"{job.effective_timeout}s"),
            ("misfire", job.misfire_policy),
            ("next run", cli.when(job.next_run_at)),
            ("last run", cli.when(job.last_run_at)),
            ("owner", job.owner.get_username() if job.owner_id else "-"),
            ("payload", _json_dumps(data["payload"], indent=None)),  # secrets masked
        ]
        lines = [f"{label + ':':<10} {value}" for label, value in fields]
        lines += ["", "Latest executions:" if recent else "No executions yet."]
        if recent:
            lines.append(cli.table(cli.EXECUTION_HEADERS, [cli.execution_row(e) for e in recent]))
        self.emit(data, "\n".join(lines))

    def do_pause(self, *, job, **_):
        job = services.job_pause(job=job_by_ref(job))
        self.emit(cli.job_data(job), f"Paused job {str(job.pk)[: cli.SHORT_ID]} ({job.name}).")

    def do_resume(self, *, job, **_):
        job = services.job_resume(job=job_by_ref(job))
        self.emit(
            cli.job_data(job),
            f"Resumed job {str(job.pk)[: cli.SHORT_ID]} ({job.name}); "
            f"next run {cli.when(job.next_run_at)}.",
        )

    def do_trigger(self, *, job, **_):
        job = job_by_ref(job)
        execution = services.job_trigger(job=job)
        execution.job = job
        self.emit(
            cli.execution_data(execution),
            f"Queued execution {execution.pk} of job {str(job.pk)[: cli.SHORT_ID]} ({job.name}).",
        )

    def do_backfill(self, *, job, start, end, **_):
        job = job_by_ref(job)
        done = services.job_backfill(job=job, start=start, end=end)
        data = {
            "job": str(job.pk),
            "start": cli.iso(done.start),
            "end": cli.iso(done.end),
            "occurrences": done.occurrences,
            "queued": done.queued,
        }
        self.emit(
            data,
            f"Queued {done.queued} of {done.occurrences} occurrences of job "
            f"{str(job.pk)[: cli.SHORT_ID]} ({job.name}) from {cli.when(start)} to "
            f"{cli.when(end)}; the others already had an execution.",
        )

    def do_executions(self, *, job, state, queue, limit, **_):
        rows = Execution.objects.select_related("job", "worker").order_by("-created_at", "-id")
        if job:
            rows = rows.filter(job=job_by_ref(job))
        if state:
            rows = rows.filter(state=state)
        if queue:
            rows = rows.filter(queue=queue)
        rows = list(rows[:limit])
        text = (
            cli.table(cli.EXECUTION_HEADERS, [cli.execution_row(e) for e in rows])
            if rows
            else "No executions."
        )
        self.emit([cli.execution_data(e) for e in rows], text)

    def do_retry(self, *, execution, **_):
        original = execution_by_ref(execution)
        retry = services.execution_retry(execution=original)
        retry.job = original.job
        self.emit(
            cli.execution_data(retry),
            f"Queued execution {retry.pk}: attempt {retry.attempt} of job "
            f"{str(retry.job_id)[: cli.SHORT_ID]} ({original.job.name}).",
        )

    def do_stats(self, *, window, **_):
        snap = snapshot(window_seconds=window)
        data = {
            "taken_at": cli.iso(snap.taken_at),
            "window_seconds": snap.window_seconds,
            "jobs": snap.jobs,
            "workers": {"alive": snap.workers_alive, "slots": snap.worker_slots},
            "dead_letters": snap.dead_letters,
            "queues": {
                name: {
                    "due": q.due,
                    "delayed": q.delayed,
                    "running": q.running,
                    "lag_seconds": round(q.lag_seconds(snap.taken_at), 3),
                }
                for name, q in snap.queues.items()
            },
            "handlers": {
                name: {
                    "finished": h.finished,
                    "retries": h.retries,
                    "rescues": h.rescues,
                    "mean_duration_seconds": h.mean_duration_seconds,
                    "dead_letters": h.dead_letters,
                }
                for name, h in snap.handlers.items()
            },
        }
        lines = [
            "Jobs:         " + "  ".join(f"{s} {n}" for s, n in snap.jobs.items()),
            f"Workers:      {snap.workers_alive} live, {snap.worker_slots} slots",
            f"Dead letters: {snap.dead_letters}",
            "",
        ]
        queue_rows = [
            [name, q.due, q.delayed, q.running, f"{q.lag_seconds(snap.taken_at):.1f}s"]
            for name, q in snap.queues.items()
        ]
        lines.append(
            cli.table(["queue", "due", "delayed", "running", "lag"], queue_rows)
            if queue_rows
            else "No queued or running executions."
        )
        lines += ["", f"Last {snap.window_seconds} s:"]
        handler_rows = [
            [
                name,
                *(h.finished[o] for o in OUTCOMES),
                h.retries,
                h.rescues,
                _duration_text(h.mean_duration_seconds),
                h.dead_letters,
            ]
            for name, h in snap.handlers.items()
        ]
        headers = ["handler", *OUTCOMES, "retries", "rescues", "mean", "dead (all)"]
        lines.append(cli.table(headers, handler_rows) if handler_rows else "No activity.")
        self.emit(data, "\n".join(lines))

    def do_workers(self, *, everyone, host, check, **_):
        workers = list(worker_rows(everyone=everyone, host=host)[:200])
        text = (
            cli.table(cli.WORKER_HEADERS, [cli.worker_row(w, w.running) for w in workers])
            if workers
            else "No workers."
        )
        self.emit([cli.worker_data(w, w.running) for w in workers], text)
        if check and not any(w.status == "alive" for w in workers):
            raise CommandError("No live worker" + (f" on {host}." if host else "."))


def _duration_text(seconds: float | None) -> str | None:
    return f"{seconds:.3f}s" if seconds is not None else None


def _json_dumps(data, indent: int | None = 2) -> str:
    return json.dumps(data, indent=indent, ensure_ascii=False, default=str)
