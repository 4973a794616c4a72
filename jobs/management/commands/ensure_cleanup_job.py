"""`manage.py ensure_cleanup_job`: make sure the recurring cleanup job exists (idempotent)."""

from django.core.management.base import BaseCommand, CommandError

from jobs import conf, database
from jobs.exceptions import ValidationError
from jobs.inprocess import schedule
from jobs.models import Job
from jobs.services import job_update
from jobs.states import JobState

CLEANUP_JOB_KEY = "system:cleanup"
DEFAULT_CRON = "17 3 * * *"  # daily at 03:17 UTC, off the top of the hour


class Command(BaseCommand):
    help = (
        "Create the system's recurring cleanup job if it does not exist (active or paused); "
        "safe to run on every deploy. A paused one is left paused."
    )

    def add_arguments(self, parser):
        parser.add_argument("--cron", default=DEFAULT_CRON, help="When it runs (default daily).")
        parser.add_argument(
            "--retention-days",
            type=int,
            default=None,
            help="Days of finished history to keep (default: the CLEANUP_RETENTION_DAYS setting).",
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="Also set the schedule and retention of an existing job to these options.",
        )

    def handle(self, *args, cron, retention_days, update, **options):
        payload = {} if retention_days is None else {"retention_days": retention_days}
        try:
            with database.atomic():
                existing = Job.objects.filter(
                    unique_key=CLEANUP_JOB_KEY, state__in=[JobState.ACTIVE, JobState.PAUSED]
                ).first()
                if existing is not None and not update:
                    self.stdout.write(f"Cleanup job exists: {existing.pk} ({existing.state}).")
                    return
                if existing is not None:
                    job_update(
                        job=existing,
                        schedule_type="cron",
                        interval_seconds=None,
                        cron=cron,
                        payload=payload,
                    )
                    self.stdout.write(f"Cleanup job updated: {existing.pk}.")
                    return
                job = schedule(
                    "cleanup",
                    payload,
                    cron=cron,
                    name="Delete old finished executions and jobs",
                    unique_key=CLEANUP_JOB_KEY,
                    max_retries=1,
                )
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
        days = retention_days or conf.CLEANUP_RETENTION_DAYS
        self.stdout.write(f"Cleanup job created: {job.pk} ({cron}, keeping {days} days).")
