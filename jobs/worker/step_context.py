"""The handler context of a run, with what a workflow step reads of the steps before it."""

from dataclasses import dataclass
from functools import cached_property

from jobs.registry import HandlerContext


@dataclass
class StepContext(HandlerContext):
    """HandlerContext, plus `dependency_results`: the results of the steps this job's step
    depends on, by step name (empty for a job that is no workflow step). Read on first use,
    so runs that never ask cost no query."""

    @cached_property
    def dependency_results(self) -> dict:
        from jobs.selectors.workflows import dependency_results

        return dependency_results(self.job.id)
