from django.apps import AppConfig
from django.db.models.signals import post_migrate


def make_history_partitions(sender, using, **kwargs):
    """After a migrate of the scheduler's database, its months ahead exist (jobs.partitions)."""
    from . import database, partitions

    if using == database.alias():
        partitions.ensure()


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        # The audit trail's receivers (token events sent by accounts) connect on import.
        from . import audit  # noqa: F401

        # Django's connections prepare nothing behind a transaction pooler (connection_created).
        from .engine import pooler  # noqa: F401

        post_migrate.connect(make_history_partitions, sender=self)
