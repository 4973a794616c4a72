"""The test settings, with the workflow test handler registered (for workers started by
tests/jobs/test_workflows*.py)."""

from tests.settings import *  # noqa: F403
from tests.settings import SCHEDULER_HANDLER_MODULES

SCHEDULER_HANDLER_MODULES = [*SCHEDULER_HANDLER_MODULES, "tests.workflow_handlers"]
