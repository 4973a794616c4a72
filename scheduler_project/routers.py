"""The scheduler's tables on a database of their own (SCHEDULER_DATABASE_URL).

Its apps, and Django's that they point at (users and groups, content types for the admin's
log and permissions, sessions for the admin), live on the `scheduler` database; the
application's own apps on `default`. A relation across the two is refused, and each app's
migrations run only where its tables live: `manage.py migrate --database scheduler` for the
scheduler's, `manage.py migrate` for the rest.
"""

SCHEDULER = "scheduler"
SCHEDULER_APPS = frozenset({"accounts", "jobs", "admin", "auth", "contenttypes", "sessions"})


class SchedulerRouter:
    def _database(self, model) -> str | None:
        return SCHEDULER if model._meta.app_label in SCHEDULER_APPS else None

    def db_for_read(self, model, **hints):
        return self._database(model)

    def db_for_write(self, model, **hints):
        return self._database(model)

    def allow_relation(self, first, second, **hints):
        return self._database(type(first)) == self._database(type(second))

    def allow_migrate(self, db, app_label, **hints):
        return (app_label in SCHEDULER_APPS) == (db == SCHEDULER)
