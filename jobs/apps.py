from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self):
        # The audit trail's receivers (token events sent by accounts) connect on import.
        from . import audit  # noqa: F401

        # Django's connections prepare nothing behind a transaction pooler (connection_created).
        from .engine import pooler  # noqa: F401
