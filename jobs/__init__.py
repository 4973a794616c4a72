"""The scheduler's jobs app. `jobs.enqueue(...)` and `jobs.schedule(...)` create jobs from
Django code (see jobs.inprocess); they are imported on first use, so importing this package
while Django loads its apps does not import the models early.
"""

__all__ = ["enqueue", "schedule"]


def __getattr__(name: str):
    if name in __all__:
        from . import inprocess

        return getattr(inprocess, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
