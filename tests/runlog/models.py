"""A table the test handlers write to, so tests see every run, not only recorded outcomes."""

from django.db import models


class RunLog(models.Model):
    job_id = models.UUIDField()
    execution_id = models.BigIntegerField()
    attempt = models.PositiveSmallIntegerField()
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)

    class Meta:
        app_label = "runlog"

    def __str__(self):
        return f"run of {self.execution_id} in {self.pid}"
