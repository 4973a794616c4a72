from django.apps import AppConfig
from django.core import checks


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self):
        from . import telemetry

        checks.register(telemetry.check_installed)
        telemetry.configure()
