# The (state, finished_at) index also carries the job, so counting a user's executions in a
# state (the dead letters) joins to jobs from the index alone, without reading the table.
# Built concurrently: on a large history a plain CREATE INDEX would hold writes (so the
# workers) for as long as it takes.

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("jobs", "0007_drop_indexes_led_by_others"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="execution", name="execution_state_finished_idx"),
        AddIndexConcurrently(
            model_name="execution",
            index=models.Index(
                fields=["state", "-finished_at"],
                include=("job",),
                name="execution_state_finished_idx",
            ),
        ),
    ]
