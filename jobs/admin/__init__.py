"""The operator's console: jobs, executions, workers and the audit trail in the Django admin.

Each model's admin lives in its own module; importing them registers them with the default
admin site (Django's autodiscovery imports this package).
"""

from . import audit, executions, jobs, queues, workers, workflows  # noqa: F401
