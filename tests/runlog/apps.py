from django.apps import AppConfig


class RunLogConfig(AppConfig):
    name = "tests.runlog"
    label = "runlog"
