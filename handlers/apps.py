from importlib import import_module

from django.apps import AppConfig

from jobs import conf

from .registry import discover_entry_points

# The built-in handlers, and the Django Tasks handler (it lives beside its backend in jobs).
BUILTIN_MODULES = (
    "handlers.builtin",
    "handlers.notification",
    "handlers.email",
    "handlers.webhook",
    "handlers.report",
    "handlers.cleanup",
    "jobs.tasks_backend",
)


class HandlersConfig(AppConfig):
    name = "handlers"
    verbose_name = "Handlers"

    def ready(self):
        # Importing the modules runs their @register decorators.
        for module in BUILTIN_MODULES:
            import_module(module)
        for module in conf.SCHEDULER_HANDLER_MODULES:
            import_module(module)
        if conf.SCHEDULER_HANDLER_ENTRY_POINTS:
            discover_entry_points()
