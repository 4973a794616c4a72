"""The scheduler's jobs app. `jobs.enqueue(...)`, `jobs.enqueue_many(...)` and
`jobs.schedule(...)` create jobs from Django code (see jobs.inprocess); `jobs.workflow(...)`,
`jobs.chain(...)` and `jobs.group(...)` workflows of them (jobs.inprocess_workflows). They are
imported on first use, so importing this package while Django loads its apps does not import
the models early.
"""

__all__ = ["chain", "enqueue", "enqueue_many", "group", "schedule", "step", "workflow"]
_WORKFLOWS = frozenset({"chain", "group", "step", "workflow"})  # jobs.inprocess_workflows


def __getattr__(name: str):
    if name in _WORKFLOWS:
        from . import inprocess_workflows

        return getattr(inprocess_workflows, name)
    if name in __all__:
        from . import inprocess

        return getattr(inprocess, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
