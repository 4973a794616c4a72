# The two foreign keys' own indexes repeat the first column of a wider index
# (job_owner_created_idx, execution_unique_attempt), which serves the same lookups; each
# only slowed every insert. Only the indexes are dropped: letting Django alter the fields
# would drop and re-add (so re-validate, under lock) both foreign key constraints.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = {
    "jobs_execution_job_id_f1a67db0": ("jobs_execution", "job_id"),
    "jobs_job_owner_id_4c884775": ("jobs_job", "owner_id"),
}


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_queue_recent_starts"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")',
                )
                for index, (table, column) in DROPPED.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="execution",
                    name="job",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="executions",
                        to="jobs.job",
                    ),
                ),
                migrations.AlterField(
                    model_name="job",
                    name="owner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="Empty for jobs enqueued by the system.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="jobs",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        )
    ]
