from importlib import import_module

from django.apps import AppConfig
from django.conf import settings


class HandlersConfig(AppConfig):
    name = "handlers"
    verbose_name = "Handlers"

    def ready(self):
        # Importing the modules runs their @register decorators.
        import_module("handlers.builtin")
        import_module("handlers.notification")
        for module in getattr(settings, "SCHEDULER_HANDLER_MODULES", []):
            import_module(module)
