#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_project.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        settings.INSTALLED_APPS  # noqa: B018 - read the settings now: a mistake is one line
    except ImproperlyConfigured as exc:
        sys.exit(f"manage.py: {exc}")

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
