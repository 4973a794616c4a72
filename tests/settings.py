"""Settings for the test suite: the project's, on PostgreSQL, with test handlers."""

import os

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DEBUG", "1")

from scheduler_project.settings import *  # noqa: F403
from scheduler_project.settings import DATABASES, INSTALLED_APPS

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "The test suite runs on PostgreSQL: run `make test`, or set DATABASE_URL=postgres://..."
    )

INSTALLED_APPS = [*INSTALLED_APPS, "tests.runlog"]
# A worker started with TEST_HANDLER_MODULES="" lacks the test handlers (an older release).
_HANDLER_MODULES = os.environ.get("TEST_HANDLER_MODULES", "tests.probe_handlers")
SCHEDULER_HANDLER_MODULES = [name for name in _HANDLER_MODULES.split(",") if name]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Workers started by tests: quick heartbeats and a short lease so rescue tests are fast.
WORKER_HEARTBEAT_SECONDS = float(os.environ.get("WORKER_HEARTBEAT_SECONDS", 0.5))
WORKER_LEASE_SECONDS = float(os.environ.get("WORKER_LEASE_SECONDS", 3))
WORKER_POLL_SECONDS = float(os.environ.get("WORKER_POLL_SECONDS", 0.2))
WORKER_SHUTDOWN_GRACE_SECONDS = float(os.environ.get("WORKER_SHUTDOWN_GRACE_SECONDS", 10))
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Several suites may share one server (parallel checkouts): each can name its own test database.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DB_NAME") or None}
# Worker processes started by tests write mail here, where the test can count it.
if os.environ.get("TEST_EMAIL_FILE_PATH"):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.environ["TEST_EMAIL_FILE_PATH"]
