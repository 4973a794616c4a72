from django.apps import AppConfig
from django.db.backends.signals import connection_created


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        from . import statements

        connection_created.connect(statements.load_timestamps_in_c, dispatch_uid="jobs.c-time")
