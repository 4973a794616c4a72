"""`jobsctl retry-all|cancel-all` over executions and `pause-all|resume-all` over jobs:
every row the filters match, each through its own service call and audited as made by the
OS user (jobs.services.bulk). Without a filter: a one-line refusal that changes nothing.

A mixin of the jobsctl command, like the queue subcommands; `emit` is the command's.
"""

from django.core.management.base import CommandError

from jobs import services
from jobs.models import Execution, Job
from jobs.services.bulk import executions_apply, jobs_apply
from jobs.states import ExecutionState, JobState

from .cli_args import timestamp


class BulkCommands:
    @staticmethod
    def add_bulk_arguments(sub, common) -> None:
        for name, text in [
            ("retry-all", "Retry every execution the filters match (each audited)."),
            ("cancel-all", "Cancel every execution the filters match (each audited)."),
        ]:
            matching = sub.add_parser(name, parents=[common], help=text)
            matching.add_argument("--state", choices=ExecutionState.values)
            matching.add_argument("--queue")
            matching.add_argument("--handler")
            matching.add_argument("--finished-after", type=timestamp, metavar="TIME")
        for name, text in [
            ("pause-all", "Pause every active job the filters match (each audited)."),
            ("resume-all", "Resume every paused job the filters match (each audited)."),
        ]:
            matching = sub.add_parser(name, parents=[common], help=text)
            matching.add_argument("--state", choices=JobState.values)
            matching.add_argument("--queue")
            matching.add_argument("--handler")
            matching.add_argument("--search", help="Part of the job's name.")

    def do_retry_all(self, **filters):
        self._executions_matching(services.execution_retry, "retried", **filters)

    def do_cancel_all(self, **filters):
        self._executions_matching(services.execution_cancel, "cancelled", **filters)

    def do_pause_all(self, **filters):
        self._jobs_matching(services.job_pause, "paused", **filters)

    def do_resume_all(self, **filters):
        self._jobs_matching(services.job_resume, "resumed", **filters)

    def _executions_matching(self, service, past, *, state, queue, handler, finished_after, **_):
        lookups = _given(
            state=state, queue=queue, job__handler=handler, finished_at__gte=finished_after
        )
        if not lookups:
            raise CommandError(
                "Give at least one of --state, --queue, --handler, --finished-after: "
                "this acts on every execution that matches."
            )
        count = executions_apply(Execution.objects.filter(**lookups), service)
        self.emit({"count": count}, f"{past.capitalize()} {count} executions.")

    def _jobs_matching(self, service, past, *, state, queue, handler, search, **_):
        lookups = _given(state=state, queue=queue, handler=handler, name__icontains=search)
        if not lookups:
            raise CommandError(
                "Give at least one of --state, --queue, --handler, --search: "
                "this acts on every job that matches."
            )
        count = jobs_apply(Job.objects.filter(**lookups), service)
        self.emit({"count": count}, f"{past.capitalize()} {count} jobs.")


def _given(**lookups) -> dict:
    """The lookups of the filters given on the command line."""
    return {name: value for name, value in lookups.items() if value is not None}
